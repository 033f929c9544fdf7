"""The app record every builder returns, and the inputs every builder receives.

An :class:`App` is one runnable agent or flow: its ADK ``Runner`` and the author map the run API
needs, or — when it could not be built — ``status.valid = False`` with a human-readable reason.
:class:`BuildDeps` is what the runtime hands to :func:`magec.agents.build.build_llm_agent` and to
the flow builder. Both live here, not in :mod:`magec.runtime`, so flows and agents depend on this
package only and the runtime depends on them (no cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.adk.runners import Runner
from google.adk.sessions import BaseSessionService

from magec.config_view.snapshot import StoreSnapshot
from magec.resources import Agent


@dataclass(frozen=True)
class AppStatus:
    valid: bool
    reason: str | None = None


@dataclass
class App:
    """One runnable app (an agent or a flow): what the run API needs."""

    id: str
    name: str
    kind: str  # "agent" | "flow"
    status: AppStatus
    runner: Runner | None = None
    #: ADK author name -> (agent id, agent name, response agent?)
    authors: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    description: str = ""
    #: digest of everything this app was built from (see :func:`magec.runtime.build.fingerprint`);
    #: equal = reusable
    fingerprint: str = ""
    #: where the session events a turn needs start (an agent's sliding-window context guard):
    #: sessions are read as that window (magec.memory.event_cache.windowed); None = whole
    window: Callable[[list[Any], Mapping[str, Any]], int] | None = None
    _ephemeral: Runner | None = field(default=None, repr=False)
    _direct: Any = field(default=None, repr=False)
    _turns: Any = field(default=None, repr=False)

    def ephemeral_runner(self) -> Runner:
        """The same agent/flow on an in-memory session service, for stateless calls (e.g. an OpenAI
        client sending the whole conversation each time): no database round trips, nothing left behind."""
        if self._ephemeral is None:
            from magec.agents.ephemeral_sessions import EphemeralSessionService

            assert self.runner is not None
            self._ephemeral = Runner(
                app=self.runner.app, app_name=self.runner.app_name, session_service=EphemeralSessionService(),
                artifact_service=self.runner.artifact_service,
            )
        return self._ephemeral

    def direct_runner(self) -> Any:
        """The ephemeral runner's turns run on the agent itself when nothing of ADK's node runtime
        applies (:mod:`magec.agents.direct`: a plain agent, no plugins); else the ephemeral runner."""
        if self._direct is None:
            self._direct = self._on_agent(self.ephemeral_runner())
        return self._direct

    def turn_runner(self) -> Any:
        """What runs a turn on a stored session: the agent itself when nothing of ADK's node runtime
        applies (:mod:`magec.agents.direct`; a client tool's result still resumes through ADK's
        runner), else :attr:`runner`."""
        if self._turns is None:
            assert self.runner is not None
            self._turns = self._on_agent(self.runner)
        return self._turns

    def _on_agent(self, runner: Runner) -> Any:
        """``runner``'s turns on the agent itself (:class:`~magec.agents.direct.DirectRunner`) when
        :func:`~magec.agents.direct.eligible` says so, else ``runner``."""
        from magec.agents.direct import DirectRunner, eligible

        return DirectRunner(runner) if self.kind == "agent" and eligible(runner) else runner


@dataclass
class BuildDeps:
    session_service: BaseSessionService
    #: extra tools + instruction paragraphs per agent (memory, MCP); may raise MagecError
    toolsets: list[Callable[[Agent, StoreSnapshot], tuple[list[Any], list[str]]]] = field(
        default_factory=list
    )
    #: called after every model call with (agent id, backend id, model, usage metadata)
    on_usage: Callable[[str, str, str, Any], None] | None = None
    #: sees every turn (:meth:`magec.audit.recorder.AuditRecorder.begin`, set by the composition
    #: root); the runtime carries it to :func:`magec.runtime.run.run_turn`. None = not recorded
    turn_observer: Any = None
    #: wraps each agent's chat model with (model, backend id, backend name), e.g. the backend's
    #: circuit breaker (:mod:`magec.backends.breaker`, set by the composition root); None = as is
    guard: Callable[[Any, str, str], Any] | None = None
    #: builds flow apps (set by magec.flows); absent = flows are not served
    flow_builder: Callable[[Any, StoreSnapshot, BuildDeps], App] | None = None
    #: identities of inputs shared by every app (session service, active memory store, …): hooks
    #: add one string per input, and a change to any of them rebuilds every app
    build_key: list[str] = field(default_factory=list)
    #: the artifact service every runner gets (:mod:`magec.artifacts`); None = no artifacts
    artifact_service: Any = None
    #: the live secret values agents' ``{{secret:KEY}}`` placeholders read
    #: (:class:`magec.agents.secrets.LiveSecrets`); None = placeholders are refused
    secrets: Any = None
