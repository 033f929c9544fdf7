"""Multi-agent flows: Magec's tree flows and graph flows compiled into ADK 2 graph ``Workflow`` s.

* :mod:`magec.flows.compile` — flow tree → ``Workflow`` (sequential, parallel, loop) + author map;
  the one entry point (``compile_flow``) for both forms.
* :mod:`magec.flows.graph` — graph flow (``{entry, nodes[], edges[]}``) → ``Workflow``, subflows nested.
* :mod:`magec.flows.graph_nodes` — graph nodes: agent, router, join, map-parallel, expression, template, code.
* :mod:`magec.flows.graph_rules` — graph save-time rules (400 naming the field), subflow cycles.
* :mod:`magec.flows.sandbox` — code nodes: Starlark in limited worker processes (``_starlark_worker``).
* :mod:`magec.flows.nodes` — the tree form's nodes (agent step, join, loop check).
* :mod:`magec.flows.state` — ``set_state`` / ``get_state`` / ``exit_loop`` tools, CEL state map.
* :mod:`magec.flows.cel` — CEL checks and evaluation (loop exits, router rules, expression nodes).
* :mod:`magec.flows.rules` — save-time rules registered into the store.
* :mod:`magec.flows.runtime_hook` — plugs flows into the runtime (``BuildDeps.flow_builder``).
* :mod:`magec.flows.examples` — the example flows ``magec examples load`` creates.
"""
