"""``GET /api/v1/ephemeral/artifacts/{token}``: download one artifact version by signed link.

No other credential: the token (:mod:`magec.artifacts.signing`) *is* the permission, for the one
version it names, until it expires. Answers carry no detail a prober could use: a malformed or
tampered token is a bare ``403``, an expired one ``410``, a genuine token whose artifact is gone
``404`` — also once a new artifact took its name and version number after a delete.

The bytes are served with the artifact's mime type, ``X-Content-Type-Options: nosniff``, a
sandboxing CSP and ``Cache-Control: private, no-store``; anything but a short allow-list of passive
types (images other than SVG, audio, video, PDF, plain text, JSON, CSV) is sent as
``Content-Disposition: attachment`` (a mime type that is no plain ``type/subtype`` as
``application/octet-stream``) and text types as ``text/plain`` when they could be active
(HTML, SVG, XML, JavaScript), so an artifact an agent wrote can never run script on this origin.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Response

from magec.artifacts.runtime_hook import Artifacts
from magec.artifacts.signing import ExpiredToken, InvalidToken
from magec.context import AppContext

#: types shown inline; everything else is an attachment
INLINE = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "application/pdf",
    "text/plain", "text/csv", "text/markdown", "application/json",
})
#: a media type ``type/subtype`` of RFC 6838's restricted name characters (already lowercased)
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_CSP = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox"


def download_headers(filename: str, mime: str | None) -> dict[str, str]:
    """Headers that keep an artifact passive (see the module docstring)."""
    media = (mime or "").split(";")[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(media):
        # the saver's (a client's or a model's) text: anything but a plain media type (CR/LF, other
        # control or non-Latin-1 characters, spaces) is no header value and would fail the response
        media = "application/octet-stream"
    passive = media in INLINE or media.startswith(("audio/", "video/"))
    if media.startswith("text/") and not passive:  # html, javascript, xml…: never rendered as such
        media = "text/plain"
    name = filename.removeprefix("user:").rsplit("/", 1)[-1] or "artifact"
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    disposition = "inline" if passive else "attachment"
    content_type = media + ("; charset=utf-8" if media.startswith("text/") or media == "application/json" else "")
    return {
        "Content-Type": content_type,
        "Content-Disposition": f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": _CSP,
        "Cache-Control": "private, no-store",
    }


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(tags=["artifacts"])

    @r.get("/api/v1/ephemeral/artifacts/{token}", summary="Download an artifact version by signed link",
           responses={403: {"description": "invalid link"}, 410: {"description": "expired link"}})
    async def download(token: str) -> Any:
        arts = ctx.extras.get("artifacts")
        if not isinstance(arts, Artifacts):
            return Response(status_code=404)
        try:
            claims = arts.signer.verify(token)
        except InvalidToken:
            return Response(status_code=403)
        except ExpiredToken:
            return Response(status_code=410)
        stored = await arts.service.load_stored(app_name=claims.app, user_id=claims.user, filename=claims.filename,
                                                session_id=claims.session or None, version=claims.version)
        if stored is None or stored.part.file_data is not None:  # gone, or a reference (no bytes here)
            return Response(status_code=404)
        if claims.created is not None and stored.meta.create_time != claims.created:
            return Response(status_code=404)  # deleted, and a new artifact took the name and version
        return Response(stored.data, headers=download_headers(claims.filename, stored.meta.mime_type))

    return r
