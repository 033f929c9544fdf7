"""The one place magec touches google-adk internals (private modules and attributes).

ADK's public API does not export everything we build on. Each private name is imported or reached
here, once, so an ADK upgrade that moves one breaks this module (and ``tests/test_adk_compat.py``)
at import, not a turn in production. Everything else imports these names from here, never from a
``google.adk`` path with a leading underscore.

What we rely on, and why:

* :class:`StaleSessionError` (``google.adk.errors._stale_session_error``) — the error our session
  services raise, and ADK's runner expects, when a session moved on in storage since it was loaded.
* :data:`EdgeItem` (``google.adk.workflow._graph``) — the element type of ``Workflow(edges=...)``,
  for typing the edge lists the flow compiler builds.
* :func:`extract_json_safe_state_delta` (``google.adk.sessions._session_util``) — splits a state
  delta into app / user / session parts exactly as ADK's own session services do.
* ``Session._storage_update_marker`` (:func:`storage_marker` / :func:`set_storage_marker`) — the
  revision a session was loaded at; ADK's services use it for stale-write detection and so do ours.
* ``google.adk.agents.remote_a2a_agent`` (:func:`short_circuit_missing_a2a`,
  :func:`load_first_turn_modules`) — the module ADK's ``build_node`` tries to import on every turn.
* ``google.adk.workflow._dynamic_node_scheduler`` (:func:`load_first_turn_modules`) — ADK's node
  scheduler, which a runner imports on its first turn.
* ``_adk_origin_app_name`` / ``_adk_origin_path`` on an agent (:func:`claim_origin`) — the origin
  ADK's own ``AgentLoader`` records and ``Runner`` checks against its ``app_name``.

(The ``_apply_temp_state`` / ``_trim_temp_delta_state`` helpers our session services inherit from
``BaseSessionService`` are protected methods of a public base class, used by every ADK service.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.adk.agents.invocation_context import LlmCallsLimitExceededError
from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.sessions._session_util import extract_json_safe_state_delta
from google.adk.workflow._graph import EdgeItem

if TYPE_CHECKING:
    from google.adk.sessions.session import Session

__all__ = [
    "EdgeItem",
    "LlmCallsLimitExceededError",
    "StaleSessionError",
    "claim_origin",
    "extract_json_safe_state_delta",
    "load_first_turn_modules",
    "set_storage_marker",
    "short_circuit_missing_a2a",
    "storage_marker",
]

A2A_AGENT_MODULE = "google.adk.agents.remote_a2a_agent"


def storage_marker(session: Session) -> Any:
    """The storage revision marker ADK keeps on a loaded ``Session`` (``None`` when unset)."""
    return session._storage_update_marker


def set_storage_marker(session: Session, marker: str) -> None:
    session._storage_update_marker = marker


def short_circuit_missing_a2a() -> None:
    """ADK's ``build_node`` runs ``from ...agents.remote_a2a_agent import RemoteA2aAgent`` on every
    turn and ignores the ImportError when the optional ``a2a`` package is absent. A failed import is
    not cached, so each turn re-executes ADK's A2A module up to its ``import a2a`` (~0.5-0.8 ms of CPU).
    ``sys.modules[name] = None`` makes that import fail at once, exactly as before, only cheaply."""
    if A2A_AGENT_MODULE not in sys.modules and importlib.util.find_spec("a2a") is None:
        sys.modules[A2A_AGENT_MODULE] = None  # type: ignore[assignment]


def load_first_turn_modules() -> None:
    """Import now what ADK imports on a runner's first turn, on the event loop: its node scheduler
    (with the workflow graph utilities and ADK's auth modules: ~0.35 s on a slow host), from
    ``build_node`` the remote A2A agent module (with a2a-sdk: ~0.5 s), and what its LLM flow's
    request processors and streaming load (~25 ms). Called when an agent is
    built (:func:`magec.agents.build.build_llm_agent`), in a rebuild, so no turn pays for them and
    a process without agents never loads them."""
    if A2A_AGENT_MODULE not in sys.modules:  # else loaded, or short-circuited (a2a absent)
        import google.adk.agents.remote_a2a_agent  # noqa: F401 - the import is the point
    import google.adk.auth.auth_preprocessor  # noqa: F401 - the flow's request processors
    import google.adk.models.google_llm  # noqa: F401
    import google.adk.utils.streaming_utils  # noqa: F401
    import google.adk.workflow._dynamic_node_scheduler  # noqa: F401


def claim_origin(agent: Any, app_name: str) -> None:
    """Record ``app_name`` as where ``agent`` comes from, before a ``Runner`` is built on it.

    Without it, ``Runner`` guesses an app name from the agent class's file when that file is under
    the working directory (magec run from its source checkout): ``magec/agents/…`` reads as app
    "agents". Every build then warned "App name mismatch", and the runner's "Session not found"
    message would carry that hint with a server path in it. ADK's ``AgentLoader`` sets the same
    two attributes on the agents it loads."""
    agent._adk_origin_app_name = app_name
    agent._adk_origin_path = Path(app_name)
