"""Multi-agent flows: Magec's tree flows compiled into ADK 2 graph ``Workflow`` s.

* :mod:`magec.flows.compile` — flow tree → ``Workflow`` (sequential, parallel, loop) + author map.
* :mod:`magec.flows.nodes` — the graph nodes (agent step, join, loop check).
* :mod:`magec.flows.state` — ``set_state`` / ``get_state`` / ``exit_loop`` tools, CEL state map.
* :mod:`magec.flows.runtime_hook` — plugs flows into the runtime (``BuildDeps.flow_builder``).
* :mod:`magec.flows.examples` — the example flows ``magec examples load`` creates.
"""
