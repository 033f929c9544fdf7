"""The user app (default port 8080): run API, voice, OpenAI-compatible endpoint, health, docs.

Browser-facing defences are in :mod:`magec.api.guard`: allowed hosts, an Origin check on writes
(cross-origin only from ``server.corsOrigins``, which also get CORS headers), and — while no client
exists (open mode, where anyone reaching the port may run agents and so MCP tools) — JSON-only
writes like the admin app. ``/metrics`` needs ``server.metricsToken`` when it is set.

The Voice UI (:mod:`magec.voice_ui`) is served at ``/`` unless ``voice.ui.enabled`` is false.

The routes besides health come from the composition root (:func:`magec.server.user_app`), which
passes them as ``routers``: this module imports no route module of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

from magec.api import docs, errors, guard, health, limits
from magec.api.auth import parse_networks
from magec.api.lockout import Lockout
from magec.api.routing import methods_elsewhere
from magec.api.user import error_shapes
from magec.context import AppContext, refresh_gauges
from magec.metrics import instrument


def voice_ui_csp(configured_dir: str) -> str:
    from magec import voice_ui

    return guard.ui_csp(voice_ui.ui_dir(configured_dir))


def create_user_app(ctx: AppContext, *, routers: Sequence[APIRouter]) -> FastAPI:
    # no ReDoc page: FastAPI's loads its script from a CDN (magec.api.docs)
    app = FastAPI(title="magec API", version="1", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    docs.install(app, "magec API")  # Swagger UI from local assets (no CDN)
    errors.install(app)
    # Client-token auth before any body is read, per-route body limits, loop guard; inside
    # instrument so refusals are counted.
    limits.install(app, ctx, user=True)
    instrument(app, ctx.metrics, "user", lambda: refresh_gauges(ctx))
    app.state.ctx = ctx

    health.install(app, ctx)

    for router in routers:
        app.include_router(router)
    if ctx.config.voice_ui_enabled:  # last: its catch-all GET must not shadow any route
        from magec import voice_ui

        voice_ui.mount(app, voice_ui.ui_dir(ctx.config.voice_ui_dir), methods_elsewhere)

    def open_mode() -> bool:
        return ctx.runtime is None or not ctx.runtime.current().snapshot.client_raw

    async def still_open() -> bool:
        # with clients (any production install) no I/O on the request path; the answer "open" is
        # confirmed against every replica's writes (a client created elsewhere opens it at once)
        if ctx.runtime is None:
            return True
        if ctx.runtime.current().snapshot.client_raw:
            return False
        return not (await ctx.runtime.fresh()).snapshot.client_raw

    config = ctx.config
    # last added = outermost: a refused Host/Origin/Content-Type never reaches anything else
    guard.install(
        app,
        guard.GuardPolicy(
            hosts=guard.HostAllowList(guard.default_allowed_hosts(config, admin=False)),
            origins=frozenset(guard.normalise_origin(o) for o in config.cors_origins),
            origins_setting="server.corsOrigins (MAGEC_CORS_ORIGINS)",
            json_only=open_mode,
            api_prefixes=("/api/", "/v1/"),
            csp=voice_ui_csp(config.voice_ui_dir) if config.voice_ui_enabled else None,
            metrics_tokens=(config.metrics_token,) if config.metrics_token else (),
            public_origin=guard.normalise_origin(config.public_url) if config.public_url else "",
            trusted_proxies=parse_networks(config.trusted_proxies),
            local_only=still_open if config.open_access == "local" else None,
            limiter=Lockout("metrics", ctx.store.engine),
        ),
        config.cors_origins,
    )
    # outermost: /v1 errors in OpenAI's error object, /api/v1/agent errors with ADK's "detail"
    error_shapes.install(app)
    return app
