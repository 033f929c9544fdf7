"""Agents: an agent definition (``resources.Agent``) → an ADK agent, and the app record around it.

* :mod:`magec.agents.build` — :func:`~magec.agents.build.build_llm_agent` (backend chat model, tools
  from the toolset hooks, instruction, usage and context-guard callbacks) and
  :func:`~magec.agents.build.adk_name`.
* :mod:`magec.agents.apps` — :class:`~magec.agents.apps.App` (one runnable agent or flow),
  :class:`~magec.agents.apps.AppStatus` and :class:`~magec.agents.apps.BuildDeps` (the inputs the
  runtime passes to every builder, agents' and flows' alike).
* :mod:`magec.agents.instructions` — default persona, ``{{agent.output:KEY}}`` templates.
* :mod:`magec.agents.context_guard` — history trimming before each model call, the cut turns
  summarised by the agent's own model (:mod:`magec.agents.context_summary`).

Dependencies point one way: :mod:`magec.runtime` (the app table, rebuilds) and :mod:`magec.flows`
import this package; it imports neither. Private ADK names come from :mod:`magec._adk`.
"""
