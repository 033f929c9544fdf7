"""The user app (default port 8080): run API, voice, OpenAI-compatible endpoint, health, docs."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import PlainTextResponse

from magec._optional import import_optional
from magec.api import errors
from magec.context import AppContext, refresh_gauges
from magec.metrics import instrument

#: modules exposing ``install(app, ctx)``; missing ones are skipped
MODULES = [
    "magec.api.user.agent",
    "magec.api.user.openai_compat",
    "magec.api.user.voice",
]


def create_user_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(title="magec API", version="1", docs_url="/docs", openapi_url="/openapi.json")
    errors.install(app)
    instrument(app, ctx.metrics, "user", lambda: refresh_gauges(ctx))
    app.state.ctx = ctx

    @app.get("/api/v1/health", tags=["health"])
    async def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    for name in MODULES:
        module = import_optional(name)
        if module is not None:
            module.install(app, ctx)
    return app
