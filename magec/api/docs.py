"""The interactive API docs (``/docs``, Swagger UI) served from this process, on both ports.

FastAPI's default page loads Swagger UI from a CDN: blank on an offline machine, and a third
party's script running next to the admin password. Here the assets come from the
``swagger-ui-bundle`` wheel, mounted at ``/docs-assets`` (a ``/docs`` path: the guard treats it as
docs, not as the Admin UI).

Magec's addresses for the same (swaggo's ``/swagger/index.html`` and ``/swagger/doc.json``, on both
of its ports) keep working: ``/swagger/doc.json`` is this app's OpenAPI schema and every other
``/swagger`` path redirects to ``/docs``, so bookmarks and scripts written against Magec land here.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
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

    @app.get("/swagger/doc.json", include_in_schema=False)
    async def swagger_doc() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/swagger", include_in_schema=False)
    @app.get("/swagger/{rest:path}", include_in_schema=False)
    async def swagger(rest: str = "") -> RedirectResponse:
        # temporary (307): /docs is where the page lives today, not a promise for ever
        return RedirectResponse("/docs", status_code=307)
