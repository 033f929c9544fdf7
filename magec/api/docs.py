"""The interactive API docs (``/docs``, Swagger UI) served from this process, on both ports.

FastAPI's default page loads Swagger UI from a CDN: blank on an offline machine, and a third
party's script running next to the admin password. Here the assets come from the
``swagger-ui-bundle`` wheel, mounted at ``/docs-assets`` (a ``/docs`` path: the guard treats it as
docs, not as the Admin UI). Only the files ``/docs`` loads are served (:data:`SERVED`): the wheel
also holds Swagger's sample page, which fetches and renders a document from petstore.swagger.io
on whichever origin serves it. There is no ReDoc page (the apps set ``redoc_url=None``): FastAPI's
loads an unpinned script from a CDN, and on the admin origin such a script could drive the Admin API.

Magec's addresses for the same (swaggo's ``/swagger/index.html`` and ``/swagger/doc.json``, on both
of its ports) keep working: ``/swagger/doc.json`` is this app's OpenAPI schema and every other
``/swagger`` path redirects to ``/docs``, so bookmarks and scripts written against Magec land here.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

ASSETS = "/docs-assets"
#: the files of the wheel that ``/docs`` loads; nothing else of it is served
SERVED = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})


class _Assets(StaticFiles):
    """The wheel's folder, limited to :data:`SERVED` (404 for its other files)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in SERVED:
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def csp(html: str) -> str:
    """The page's Content-Security-Policy: its own files, and its one inline script by hash.

    The docs page is on the admin origin, next to the admin password: a script injected into it
    (an HTML-rendering bug in Swagger UI, a schema text it shows) must not run, nor the page load
    anything or be framed from elsewhere. Swagger UI sets inline ``style`` attributes (so styles
    may be inline), shows data: icons, and "Try it out" calls this origin."""
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def install(app: FastAPI, title: str) -> None:
    """``GET /docs`` and its assets; create ``app`` with ``docs_url=None``."""
    app.mount(ASSETS, _Assets(directory=swagger_ui_path), name="docs-assets")

    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{title} — docs",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
    )
    body = bytes(page.body)
    headers = {"Content-Security-Policy": csp(body.decode())}

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(body, headers=headers)

    @app.get("/swagger/doc.json", include_in_schema=False)
    async def swagger_doc() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/swagger", include_in_schema=False)
    @app.get("/swagger/{rest:path}", include_in_schema=False)
    async def swagger(rest: str = "") -> RedirectResponse:
        # temporary (307): /docs is where the page lives today, not a promise for ever
        return RedirectResponse("/docs", status_code=307)
