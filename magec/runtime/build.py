"""Build a :class:`Runtime` from a store snapshot: one ADK agent + runner per agent (and flow).

Each agent is built in isolation: a missing backend, an unknown type or a broken MCP server marks
*that* agent invalid with a human-readable reason; every other agent is unaffected.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.runners import Runner
from google.adk.sessions import BaseSessionService

from magec.backends import registry
from magec.errors import MagecError
from magec.redact import redact
from magec.resources import Agent
from magec.runtime import instructions
from magec.store.snapshot import StoreSnapshot

log = logging.getLogger(__name__)

_A2A_AGENT_MODULE = "google.adk.agents.remote_a2a_agent"


def _short_circuit_missing_a2a() -> None:
    """ADK's ``build_node`` runs ``from ...agents.remote_a2a_agent import RemoteA2aAgent`` on every
    turn and ignores the ImportError when the optional ``a2a`` package is absent. A failed import is
    not cached, so each turn re-executes ADK's A2A module up to its ``import a2a`` (~0.5-0.8 ms of CPU).
    ``sys.modules[name] = None`` makes that import fail at once, exactly as before, only cheaply."""
    if _A2A_AGENT_MODULE not in sys.modules and importlib.util.find_spec("a2a") is None:
        sys.modules[_A2A_AGENT_MODULE] = None  # type: ignore[assignment]


_short_circuit_missing_a2a()


def adk_name(resource_id: str, suffix: str = "") -> str:
    """ADK agent names must be identifiers; resource ids are UUIDs."""
    base = "a_" + "".join(c if c.isalnum() else "_" for c in resource_id)
    return f"{base}_{suffix}" if suffix else base


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
    #: digest of everything this app was built from (see :func:`fingerprint`); equal = reusable
    fingerprint: str = ""
    _ephemeral: Runner | None = field(default=None, repr=False)

    def ephemeral_runner(self) -> Runner:
        """The same agent/flow on an in-memory session service, for stateless calls (e.g. an OpenAI
        client sending the whole conversation each time): no database round trips, nothing left behind."""
        if self._ephemeral is None:
            from google.adk.sessions import InMemorySessionService

            assert self.runner is not None
            self._ephemeral = Runner(
                app=self.runner.app, app_name=self.runner.app_name, session_service=InMemorySessionService()
            )
        return self._ephemeral


@dataclass
class Runtime:
    epoch: int
    snapshot: StoreSnapshot
    apps: dict[str, App]
    session_service: BaseSessionService
    #: how many apps this build constructed (the others were reused from the previous runtime)
    rebuilt: int = 0
    #: the shared build inputs (settings, session service, memory store…) this runtime was built with
    shared: str = ""

    def find(self, key: str) -> App | None:
        """An app by id, or by exact name when no id matches."""
        if key in self.apps:
            return self.apps[key]
        for app in self.apps.values():
            if app.name == key:
                return app
        return None


@dataclass
class BuildDeps:
    session_service: BaseSessionService
    #: extra tools + instruction paragraphs per agent (memory, MCP); may raise MagecError
    toolsets: list[Callable[[Agent, StoreSnapshot], tuple[list[Any], list[str]]]] = field(
        default_factory=list
    )
    #: called after every model call with (agent id, backend id, model, usage metadata)
    on_usage: Callable[[str, str, str, Any], None] | None = None
    #: builds flow apps (set by magec.flows); absent = flows are not served
    flow_builder: Callable[[Any, StoreSnapshot, BuildDeps], App] | None = None
    #: identities of inputs shared by every app (session service, active memory store, …): hooks
    #: add one string per input, and a change to any of them rebuilds every app
    build_key: list[str] = field(default_factory=list)


def fingerprint(snap: StoreSnapshot, kind: str, rid: str, memo: dict[tuple[str, str], str]) -> str:
    """Digest of a resource's stored version and, recursively, of every resource it references
    (an agent: its backends and MCP servers; a flow: its agents and theirs). Two equal
    fingerprints mean the built app would be the same, so the old one is reused."""
    key = (kind, rid)
    done = memo.get(key)
    if done is not None:
        return done
    memo[key] = ""  # cycle guard
    digest = hashlib.blake2b(snap.versions.get(key, "").encode(), digest_size=16)
    for target_kinds, target in snap.refs.get(key, ()):
        for target_kind in target_kinds:
            if (target_kind, target) in snap.versions:
                digest.update(f"|{target_kind}:{target}=".encode())
                digest.update(fingerprint(snap, target_kind, target, memo).encode())
    memo[key] = digest.hexdigest()
    return memo[key]


def build_llm_agent(
    agent: Agent,
    snap: StoreSnapshot,
    deps: BuildDeps,
    *,
    name: str | None = None,
    extra_tools: list[Any] | None = None,
    extra_paragraphs: list[str] | None = None,
) -> LlmAgent:
    """The ADK agent for one agent resource; MagecError with a readable reason when it cannot be built."""
    if not agent.llm.backend:
        raise MagecError("LLM backend not configured")
    spec = snap.backend_spec(agent.llm.backend, agent.llm.headers)
    if spec is None:
        raise MagecError("LLM backend not found")
    if not agent.llm.model and spec.type != "local":
        raise MagecError("LLM model not configured")
    try:
        backend_type = registry.get(spec.type)
    except MagecError as e:
        raise MagecError(f"LLM backend: {e}") from e
    except ImportError as e:
        raise MagecError(f"LLM backend type {spec.type!r} is not installed: {e}") from e
    model = backend_type.chat(spec, agent.llm.model)
    tools: list[Any] = list(extra_tools or [])
    paragraphs: list[str] = []
    for toolset in deps.toolsets:
        more_tools, more_text = toolset(agent, snap)
        tools.extend(more_tools)
        paragraphs.extend(more_text)
    paragraphs.extend(extra_paragraphs or [])
    text = instructions.compose(agent.system_prompt, paragraphs)
    kwargs: dict[str, Any] = {}
    if deps.on_usage is not None:
        on_usage = deps.on_usage
        backend_id, model_name = spec.id, agent.llm.model

        def after_model(callback_context: Any, llm_response: Any) -> None:
            if llm_response.usage_metadata is not None and not llm_response.partial:
                on_usage(agent.id, backend_id, model_name, llm_response.usage_metadata)
            return None

        kwargs["after_model_callback"] = after_model
    if agent.context_guard.enabled:
        from magec.runtime.context_guard import callback

        kwargs["before_model_callback"] = callback(agent.context_guard)
    return LlmAgent(
        name=name or adk_name(agent.id),
        description=agent.name,
        model=model,
        instruction=instructions.provider(text),
        tools=tools,
        output_key=agent.output_key or None,
        **kwargs,
    )


def build_runtime(snap: StoreSnapshot, deps: BuildDeps, previous: Runtime | None = None) -> Runtime:
    """Apps for every agent and flow of ``snap``, reusing ``previous``'s apps whose inputs did not
    change: one agent's edit rebuilds that agent and the flows using it, nothing else.

    Fast path: ``snap`` was diffed from ``previous``'s snapshot and the shared inputs are the same,
    so ``snap.dirty`` names exactly the apps to rebuild. Otherwise every app's :func:`fingerprint`
    is compared with the one it was built with."""
    shared = "\n".join([snap.settings_version, *deps.build_key])
    old = previous.apps if previous is not None else {}
    diffed = (
        previous is not None
        and snap.dirty is not None
        and snap.base_serial == previous.snapshot.serial
        and previous.shared == shared
    )
    memo: dict[tuple[str, str], str] = {}

    def fp(kind: str, rid: str) -> str:
        digest = hashlib.blake2b(shared.encode(), digest_size=16)
        digest.update(fingerprint(snap, kind, rid, memo).encode())
        return digest.hexdigest()

    rebuilt = 0
    apps: dict[str, App] = {}
    for kind, items, make in (("agents", snap.agents, _build_agent_app), ("flows", snap.flows, _build_flow_app)):
        for rid, resource in items.items():
            app = old.get(rid)
            if diffed and app is not None and rid not in snap.dirty:  # type: ignore[operator]
                apps[rid] = app
                continue
            fprint = fp(kind, rid)
            if not diffed and app is not None and app.fingerprint == fprint:
                apps[rid] = app
                continue
            app = make(resource, snap, deps)
            app.fingerprint = fprint
            apps[rid] = app
            rebuilt += 1
    return Runtime(
        epoch=snap.epoch,
        snapshot=snap,
        apps=apps,
        session_service=deps.session_service,
        rebuilt=rebuilt,
        shared=shared,
    )


def _build_agent_app(agent: Any, snap: StoreSnapshot, deps: BuildDeps) -> App:
    try:
        llm_agent = build_llm_agent(agent, snap, deps)
        runner = Runner(app_name=agent.id, agent=llm_agent, session_service=deps.session_service)
        return App(
            agent.id,
            agent.name,
            "agent",
            AppStatus(True),
            runner,
            {llm_agent.name: (agent.id, agent.name, True)},
            agent.description,
        )
    except MagecError as e:
        return App(agent.id, agent.name, "agent", AppStatus(False, redact(str(e))), description=agent.description)
    except Exception as e:  # noqa: BLE001 - one broken agent never takes the others down
        log.exception("agent %s could not be built", agent.id)
        return App(
            agent.id,
            agent.name,
            "agent",
            AppStatus(False, redact(f"build failed: {e}")),
            description=agent.description,
        )


def _build_flow_app(flow: Any, snap: StoreSnapshot, deps: BuildDeps) -> App:
    if deps.flow_builder is None:
        return App(flow.id, flow.name, "flow", AppStatus(False, "flows are not available"))
    try:
        return deps.flow_builder(flow, snap, deps)
    except MagecError as e:
        return App(flow.id, flow.name, "flow", AppStatus(False, redact(str(e))))
    except Exception as e:  # noqa: BLE001
        log.exception("flow %s could not be built", flow.id)
        return App(flow.id, flow.name, "flow", AppStatus(False, redact(f"build failed: {e}")))
