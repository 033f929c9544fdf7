"""The admin app (default port 8081): ``/api/v1/admin/*``, ``/docs`` and the Admin UI at ``/``.

Browser-facing defences (allowed hosts, Origin, JSON-only writes, security headers, /metrics auth)
are in :mod:`magec.api.guard`; on this app cross-origin requests are refused unless
``server.adminOrigins`` lists the origin, and ``/metrics`` takes the admin password (or
``server.metricsToken``) whenever either is set.

Routers of other parts (backends test, memory, voice, playground) come from the composition root
(:func:`magec.server.admin_app`) as ``routers``; this module imports only the generic CRUD routes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import PlainTextResponse, Response

from magec.api import docs, errors, guard, health, limits
from magec.api.admin.resources import PATHS, core_router, crud_router
from magec.api.admin.ui_assets import ui_response
from magec.api.auth import AdminAuth, client_ip
from magec.api.routing import methods_elsewhere
from magec.context import AppContext, refresh_gauges
from magec.errors import MagecError
from magec.metrics import instrument

log = logging.getLogger(__name__)
UI_DIR = Path(__file__).resolve().parent.parent.parent / "ui"
PREFIX = "/api/v1/admin"
#: admin POSTs that are conversations or speech in the playground, not changes to the configuration
NOT_CHANGES = (f"{PREFIX}/agent/", f"{PREFIX}/voice/")


def create_admin_app(ctx: AppContext, *, routers: Sequence[APIRouter]) -> FastAPI:
    # no ReDoc page: FastAPI's loads its script from a CDN (magec.api.docs)
    app = FastAPI(title="magec Admin API", version="1", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    docs.install(app, "magec Admin API")  # Swagger UI from local assets (no CDN)
    errors.install(app)
    # Inside the auth middleware added below (bodies are read only once the caller is
    # authenticated) and inside instrument (so refusals are counted).
    limits.install(app, ctx, user=False)
    instrument(app, ctx.metrics, "admin", lambda: refresh_gauges(ctx))
    auth = AdminAuth(ctx.config.admin_password, ctx.config.trusted_proxies, ctx.store.engine)
    app.state.ctx = ctx
    app.state.admin_auth = auth  # the admin MCP port checks with it too: one lockout count per address

    class AdminAuthMiddleware(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            path = request.url.path
            if request.method != "OPTIONS" and path.startswith("/api/") and path not in health.PROBES:
                try:
                    await auth.verify(request)
                except MagecError as err:
                    return errors.to_response(err)
            response = await call_next(request)
            if request.method in guard.STATE_CHANGING and path.startswith(PREFIX) and not path.startswith(NOT_CHANGES):
                # who changed what, in the log an operator reads (the path names the resource; its
                # body and query never: they may hold values)
                log.info("admin %s %s → %d (from %s)", request.method, path, response.status_code,
                         client_ip(request, auth.trusted))
            return response

    app.add_middleware(AdminAuthMiddleware)
    config = ctx.config
    # last added = outermost: a refused Host/Origin/Content-Type never reaches auth or the limiter
    guard.install(
        app,
        guard.GuardPolicy(
            hosts=guard.HostAllowList(guard.default_allowed_hosts(config, admin=True)),
            origins=frozenset(guard.normalise_origin(o) for o in config.admin_origins),
            json_only=lambda: True,
            csp=guard.ui_csp(UI_DIR),
            metrics_tokens=tuple(t for t in (config.metrics_token, config.admin_password) if t),
            public_origin=guard.normalise_origin(config.public_url) if config.public_url else "",
            public_url_hint=False,
            trusted_proxies=auth.trusted,
            limiter=auth.limiter,  # a password guessed via /metrics counts like one guessed via /api
        ),
        config.admin_origins,
    )

    health.install(app, ctx)

    api = APIRouter(prefix=PREFIX)
    api.include_router(core_router(ctx))
    # before the generic CRUD routes, so e.g. ``/backends/types`` is not taken as an id
    for router in routers:
        api.include_router(router)
    for segment, kind in PATHS.items():
        api.include_router(crud_router(ctx, segment, kind))
    app.include_router(api)
    _mount_ui(app)
    return app


def _mount_ui(app: FastAPI) -> None:
    @app.get("/{path:path}", include_in_schema=False)
    async def ui(path: str, request: Request) -> Response:
        if path.startswith(".well-known/"):  # a discovery probe must not get the UI's HTML with a 200
            return errors.error_response(404, f"no route for /{path}")
        if path.startswith("api/"):
            allowed = methods_elsewhere(request)  # a GET on a POST route: 405, not "no route"
            if allowed:
                return errors.error_response(405, "Method Not Allowed", headers={"Allow": ", ".join(allowed)})
            return errors.error_response(404, f"no route for /{path}")
        if not (UI_DIR / "index.html").exists():
            return PlainTextResponse(
                "magec admin API is running; the Admin UI is not installed.", status_code=200
            )
        # module preloads in index.html, ETag + revalidation on every file (ui_assets.py)
        return ui_response(request, UI_DIR, path)
