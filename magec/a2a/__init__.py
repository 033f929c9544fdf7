"""A2A (Agent-to-Agent protocol): serving magec agents and flows, and calling remote A2A agents.

* :mod:`magec.a2a.cards` — the agent card of an app (Magec's shape: ``url``, ``skills``,
  ``capabilities.streaming``, a bearer security scheme) and the discovery list.
* :mod:`magec.a2a.executor` — the a2a-sdk ``AgentExecutor`` that runs a turn through magec's own
  turn path (:func:`magec.runtime.run.run_turn`) and converts its events with ADK's A2A converters.
* :mod:`magec.a2a.service` — one a2a-sdk JSON-RPC dispatcher + request handler per process, tasks
  kept per (app, client) in a bounded in-memory store.
* :mod:`magec.a2a.remote` — an agent whose ``a2a.remote.url`` is set is built as ADK's
  ``RemoteA2aAgent`` (usable alone and as a flow step).

The HTTP routes are in :mod:`magec.api.user.a2a`. Design notes: docs/a2a.md.
"""

import os

# ADK marks its A2A converters and RemoteA2aAgent experimental and warns on *every call*; the ADK
# version is pinned (and tests/a2a pins the behaviour we rely on), so the warning is noise here.
os.environ.setdefault("ADK_SUPPRESS_A2A_EXPERIMENTAL_FEATURE_WARNINGS", "true")
