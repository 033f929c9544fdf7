"""Error bodies in the shape each client family reads, per path prefix.

Contract: :class:`JsonErrorRewrite` holds back a JSON error answer (status >= 400,
``application/json``) under its ``prefix`` and passes the body through ``rewrite(status, body)``
(``None`` = unchanged); headers (``Retry-After``, CORS, ``X-Session-Id``) pass through with a
corrected ``Content-Length``, plus what an optional ``headers(status, body)`` adds (it sees the
body as the route wrote it). Streams and successes are never touched. Three uses:

* ``/v1/`` — OpenAI's error object (:mod:`magec.api.user.openai.errors`);
* ``/api/v1/agent/`` — magec's ``{"error", "code"}`` plus ``detail`` (the message), the field ADK
  clients (its dev web UI, ``adk`` API clients) read from FastAPI's ``HTTPException`` bodies;
* ``/api/v1/webhooks/`` — ``"ok": false`` first, as every answer of Magec's webhook handler
  carries ``ok`` (automations test it), also on refusals made before the handler runs (client
  token, body size, Host/Origin, method); ``error`` and ``code`` are kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Rewrite = Callable[[int, bytes], "bytes | None"]
ExtraHeaders = Callable[[int, bytes], "list[tuple[bytes, bytes]]"]

ADK_PREFIX = "/api/v1/agent/"
WEBHOOK_PREFIX = "/api/v1/webhooks/"


class JsonErrorRewrite:
    def __init__(self, app: ASGIApp, prefix: str, rewrite: Rewrite, headers: ExtraHeaders | None = None) -> None:
        self.app, self.prefix, self.rewrite, self.headers = app, prefix, rewrite, headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                ctype = dict((k.lower(), v) for k, v in message.get("headers", [])).get(b"content-type", b"")
                if message["status"] >= 400 and ctype.startswith(b"application/json"):
                    start = message  # held until the whole (small) body is in
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            extra = self.headers(start["status"], body) if self.headers is not None else []
            new = self.rewrite(start["status"], body)
            if new is not None:
                body = new
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.extend(extra)
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, wrapped)


def _with_detail(status: int, body: bytes) -> bytes | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("error"), str) or "detail" in data:
        return None
    return json.dumps({**data, "detail": data["error"]}).encode()


def _with_ok(status: int, body: bytes) -> bytes | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or "ok" in data:
        return None
    return json.dumps({"ok": False, **data}, separators=(",", ":")).encode()


def install(app: Any) -> None:
    """The three rewrites, outermost (call after every other ``add_middleware``)."""
    from magec.api.user.openai import errors as openai_errors

    openai_errors.install(app)
    app.add_middleware(JsonErrorRewrite, prefix=ADK_PREFIX, rewrite=_with_detail)
    app.add_middleware(JsonErrorRewrite, prefix=WEBHOOK_PREFIX, rewrite=_with_ok)
