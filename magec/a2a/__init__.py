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

a2a-sdk (~0.5 s of imports on a slow host) loads in a runtime rebuild, never in a turn nor a
request: with the first agent built (ADK's runner needs its remote A2A agent module,
:func:`magec._adk.load_first_turn_modules`), and magec's serving side with the first agent or flow
served over A2A (:func:`preload`, a build hook), as a first backend of a vendor imports its SDK. A
process with no apps never loads it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from magec.config_view.snapshot import StoreSnapshot

# ADK marks its A2A converters and RemoteA2aAgent experimental and warns on *every call*; the ADK
# version is pinned (and tests/a2a pins the behaviour we rely on), so the warning is noise here.
os.environ.setdefault("ADK_SUPPRESS_A2A_EXPERIMENTAL_FEATURE_WARNINGS", "true")

#: the A2A user id inside a caller's namespace (A2A itself has no end-user identity)
A2A_USER = "a2a"
#: JSON-RPC methods whose answer is an SSE stream (model output is streamed token by token)
STREAM_METHODS = frozenset({"message/stream", "SendStreamingMessage", "tasks/resubscribe", "SubscribeToTask"})


def preload(snap: StoreSnapshot, deps: Any) -> None:  # noqa: ARG001 - a runtime BuildHook
    """Import the serving side once the snapshot serves an agent or flow over A2A."""
    if any(a.a2a.enabled for a in snap.agents.values()) or any(f.a2a.enabled for f in snap.flows.values()):
        import magec.a2a.service  # noqa: F401 - the import is the point
