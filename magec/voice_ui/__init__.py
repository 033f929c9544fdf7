"""The Voice UI: a static, installable PWA served at ``/`` on the user port (docs/voice.md).

Plain ESM + Vue (vendored, no build step), like the Admin UI. :func:`mount` adds one catch-all
GET route, registered after every API route so it never shadows one: a file of this folder when
the path names one, ``index.html`` otherwise (client-side routing), and a JSON 404 under ``/api/``
and ``/v1/``. ``index.html`` and ``sw.js`` are served ``no-cache`` so an update reaches devices on
their next load; the service worker caches the app shell for offline start.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, JSONResponse, Response

UI_DIR = Path(__file__).resolve().parent
_NO_CACHE = {"index.html", "sw.js", "manifest.webmanifest"}
_MEDIA = {".webmanifest": "application/manifest+json", ".js": "text/javascript"}


def mount(app: FastAPI) -> None:
    @app.get("/{path:path}", include_in_schema=False)
    async def voice_ui(path: str) -> Response:
        if path.startswith(("api/", "v1/")) or path in ("api", "v1"):
            return JSONResponse({"error": f"no route for /{path}"}, status_code=404)
        target = (UI_DIR / path).resolve()
        if not (path and target.is_file() and UI_DIR in target.parents and target.suffix != ".py"):
            target = UI_DIR / "index.html"
        headers = {"Cache-Control": "no-cache"} if target.name in _NO_CACHE else {}
        return FileResponse(target, media_type=_MEDIA.get(target.suffix), headers=headers)
