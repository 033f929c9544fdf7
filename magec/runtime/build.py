"""Build a :class:`Runtime` from a store snapshot: one ADK agent + runner per agent (and flow).

Each agent is built in isolation: a missing backend, an unknown type or a broken MCP server marks
*that* agent invalid with a human-readable reason; every other agent is unaffected. The agent itself
is assembled by :mod:`magec.agents` (and a flow by ``BuildDeps.flow_builder``); this module owns the
app table and decides which apps to rebuild (:func:`fingerprint`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.adk.runners import Runner
from google.adk.sessions import BaseSessionService

from magec._adk import claim_origin
from magec.agents import context_guard
from magec.agents.apps import App, AppStatus, BuildDeps
from magec.agents.build import build_llm_agent
from magec.config_view.snapshot import StoreSnapshot
from magec.errors import MagecError, ValidationError
from magec.redact import redact

log = logging.getLogger(__name__)


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
    #: sees every turn run on this runtime (``BuildDeps.turn_observer``: the conversation audit)
    observer: Any = None

    def find(self, key: str, usable: Callable[[str], bool] | None = None, *, field: str | None = None) -> App | None:
        """An app by id, or by exact name when no id matches.

        Names need not be unique: with ``usable`` (a caller's ``may_use``) a name resolves to an
        app the caller may use when one has it, so a client allowed on one of two "Assistant"s
        reaches that one by name; an app it may not use is returned only when no usable one has
        the name (the caller's check then refuses it). ``field`` (a request's field naming the
        app): a name that more than one usable app has is a 400 naming it — answering with one
        of them, picked silently, would run an agent the caller did not mean."""
        if key in self.apps:
            return self.apps[key]
        refused: App | None = None
        found: list[App] = []
        for app in self.apps.values():
            if app.name == key:
                if usable is None or usable(app.id):
                    if field is None:
                        return app
                    found.append(app)
                refused = refused or app
        if len(found) > 1:
            ids = ", ".join(a.id for a in found)
            raise ValidationError(f"{field}: {key!r} is the name of {len(found)} agents or flows ({ids}): use the id",
                                  field=field)
        return found[0] if found else refused


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
        observer=deps.turn_observer,
    )


def _build_agent_app(agent: Any, snap: StoreSnapshot, deps: BuildDeps) -> App:
    try:
        llm_agent = build_llm_agent(agent, snap, deps)
        claim_origin(llm_agent, agent.id)
        runner = Runner(app_name=agent.id, agent=llm_agent, session_service=deps.session_service,
                        artifact_service=deps.artifact_service)
        return App(
            agent.id,
            agent.name,
            "agent",
            AppStatus(True),
            runner,
            {llm_agent.name: (agent.id, agent.name, True)},
            agent.description,
            window=context_guard.window(agent.context_guard, agent.id),
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
