"""The Voice UI: a static, installable PWA served at ``/`` on the user port (docs/voice.md).

Plain ESM + Vue (vendored, no build step), like the Admin UI. :func:`mount` adds one catch-all
GET route, registered after every API route so it never shadows one: a file of this folder when
the path names one, ``index.html`` otherwise (client-side routing), and the API's JSON 404
(``not_found``) under ``/api/`` and ``/v1/`` — or its 405 with ``Allow`` when the path is a route
of another method (a webhook URL opened in a browser, ``curl`` without ``-X POST`` on the run API). ``index.html`` and ``sw.js`` are served ``no-cache``
so an update reaches devices on their next load; the service worker caches the app shell for
offline start.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response

from magec.errors import NotFoundError

UI_DIR = Path(__file__).resolve().parent
_NO_CACHE = {"index.html", "sw.js", "manifest.webmanifest"}
_MEDIA = {".webmanifest": "application/manifest+json", ".js": "text/javascript"}


def ui_dir(configured: str = "") -> Path:
    """The folder served: ``voice.ui.dir`` when set (e.g. Magec's own built Voice UI), else ours."""
    return Path(configured).resolve() if configured else UI_DIR


def mount(app: FastAPI, directory: Path = UI_DIR,
          methods_elsewhere: Callable[[Request], list[str]] = lambda _request: []) -> None:
    """``methods_elsewhere(request)``: the methods the app's other routes serve the path with
    (:func:`magec.api.routing.methods_elsewhere`, given by the user app: the API is not ours)."""
    root = directory.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def voice_ui(path: str, request: Request) -> Response:
        if path.startswith(("api/", "v1/")) or path in ("api", "v1"):
            # a POST-only route of this path never gets to say 405: this GET route matched first
            allowed = methods_elsewhere(request)
            if allowed:
                raise HTTPException(405, headers={"Allow": ", ".join(allowed)})
            # the one error body of the API ({"error", "code"}; /v1 rewrites it to OpenAI's shape)
            raise NotFoundError(f"no route for /{path}")
        if path.startswith(".well-known/"):
            # discovery probes (an A2A client reading /.well-known/agent-card.json, ACME, security.txt)
            # must see "none here", not the Voice UI's HTML with a 200 that they then fail to parse;
            # Magec serves agent cards only under /api/v1/a2a/ (docs/a2a.md)
            raise NotFoundError(f"no route for /{path}: agent cards are at /api/v1/a2a/.well-known/agent-card.json")
        target = (root / path).resolve()
        if not (path and target.is_file() and root in target.parents and target.suffix != ".py"):
            target = root / "index.html"
        headers = {"Cache-Control": "no-cache"} if target.name in _NO_CACHE else {}
        return FileResponse(target, media_type=_MEDIA.get(target.suffix), headers=headers)

