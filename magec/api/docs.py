"""The interactive API docs (``/docs``, Swagger UI) served from this process, on both ports.

FastAPI's default page loads Swagger UI from a CDN: blank on an offline machine, and a third
party's script running next to the admin password. Here the assets come from the
``swagger-ui-bundle`` wheel, mounted at ``/docs-assets`` (a ``/docs`` path: the guard treats it as
docs, not as the Admin UI).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

ASSETS = "/docs-assets"


def install(app: FastAPI, title: str) -> None:
    """``GET /docs`` and its assets; create ``app`` with ``docs_url=None``."""
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} — docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )
