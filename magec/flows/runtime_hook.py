"""Runtime hook: makes the runtime serve flows (``BuildDeps.flow_builder``).

:func:`install` is a build hook (:class:`magec.runtime.manager.BuildHook`) that :mod:`magec.server`
passes to the runtime manager; it runs on every rebuild (every config epoch), so an
edited flow, or an edited agent used by a flow, applies to the next run with no restart. A flow
that cannot be built becomes an invalid :class:`~magec.agents.apps.App` whose reason names the
step in words (``Step 2: agent 'X': …``, :mod:`magec.flows.wording`); other apps are unaffected.
The compiler (:mod:`magec.flows.compile`, with ADK's workflow engine: ~0.35 s of imports on a slow
host) loads with the first flow built: a process without flows never imports it.
"""

from __future__ import annotations

import logging

from google.adk.runners import Runner

from magec.agents.apps import App, AppStatus, BuildDeps
from magec.config_view.snapshot import StoreSnapshot
from magec.flows.wording import in_words
from magec.redact import redact
from magec.resources.models import Flow

log = logging.getLogger(__name__)


def build_flow_app(flow: Flow, snap: StoreSnapshot, deps: BuildDeps) -> App:
    """A runnable App for ``flow`` or an invalid one with the reason (never raises MagecError)."""
    from magec.errors import MagecError
    from magec.flows.compile import compile_flow

    try:
        compiled = compile_flow(flow, snap, deps)
    except MagecError as e:
        reason = in_words(str(e), flow.dump())
        return App(flow.id, flow.name, "flow", AppStatus(False, redact(reason)), description=flow.description)
    runner = Runner(app_name=flow.id, node=compiled.root, session_service=deps.session_service,
                    artifact_service=deps.artifact_service)
    return App(flow.id, flow.name, "flow", AppStatus(True), runner, compiled.authors, flow.description)


def install(snap: StoreSnapshot, deps: BuildDeps) -> None:
    deps.flow_builder = build_flow_app
