"""Serving the Admin UI's static files so the first load is fast on a slow network.

The UI is ~45 plain ES modules with no build step. Left alone, the browser discovers them level by
level (main.js → pages → components → …): one round trip per import depth, behind a bare
"Loading…". So:

* ``index.html`` is served with a ``<link rel="modulepreload">`` for EVERY module (generated from the
  files on disk, so a new module needs no list to maintain): the browser fetches them all at once,
  in parallel, before main.js even runs; ``js/boot.js`` (a classic script) shows the progress.
* every file carries an ``ETag`` and ``Cache-Control: no-cache``: a reload revalidates each file
  with a conditional request and gets ``304 Not Modified`` (no body) when unchanged, and an
  upgraded server is never mixed with stale modules from the browser cache.

Contract: :func:`ui_response` answers any non-API GET path of the admin port: a UI file under
``ui_dir`` when it exists (never outside it), else ``index.html`` (the hash router's page).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html",
          ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
          ".map": "application/json", ".txt": "text/plain", ".woff2": "font/woff2"}
_CACHE = "no-cache"
_index: dict[Path, tuple[float, bytes, str]] = {}


def _modules(ui_dir: Path) -> list[str]:
    """Every ES module of the UI, main.js first, as URLs relative to index.html."""
    files = sorted(p.relative_to(ui_dir).as_posix() for p in (ui_dir / "js").rglob("*.js"))
    vendor = sorted(p.relative_to(ui_dir).as_posix() for p in (ui_dir / "vendor").glob("*.esm-browser*.js"))
    order = [f for f in files if f == "js/main.js"] + vendor + [f for f in files if f not in ("js/main.js", "js/boot.js")]
    return order


def index_html(ui_dir: Path) -> tuple[bytes, str]:
    """``index.html`` with the module preloads, and its ETag (recomputed when any UI file changes)."""
    stamp = max((p.stat().st_mtime for p in ui_dir.rglob("*") if p.is_file()), default=0.0)
    cached = _index.get(ui_dir)
    if cached and cached[0] == stamp:
        return cached[1], cached[2]
    html = (ui_dir / "index.html").read_text()
    links = "\n".join(f'  <link rel="modulepreload" href="./{m}">' for m in _modules(ui_dir))
    html = html.replace("</head>", f"{links}\n</head>", 1)
    body = html.encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    _index[ui_dir] = (stamp, body, etag)
    return body, etag


def _etag_of(path: Path) -> str:
    st = path.stat()
    return '"' + hashlib.md5(f"{st.st_mtime_ns}-{st.st_size}".encode(), usedforsecurity=False).hexdigest() + '"'


def _answer(request: Request, body: bytes | None, path: Path | None, etag: str, media_type: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": _CACHE}
    inm = request.headers.get("if-none-match", "")
    if etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
        return Response(status_code=304, headers=headers)
    if body is None and path is not None:
        body = path.read_bytes()
    return Response(content=body, media_type=media_type, headers=headers)


def ui_response(request: Request, ui_dir: Path, path: str) -> Response:
    ui_dir = ui_dir.resolve()
    target = (ui_dir / path).resolve()
    if path and target.is_file() and ui_dir in target.parents and target.name != "index.html":
        media = _TYPES.get(target.suffix.lower(), "application/octet-stream")
        return _answer(request, None, target, _etag_of(target), media)
    body, etag = index_html(ui_dir)
    return _answer(request, body, None, etag, "text/html")
