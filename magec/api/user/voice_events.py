"""``WS /api/v1/voice/events``: the realtime voice channel (wake word + VAD), Magec's protocol.

The protocol itself is :mod:`magec.voice.realtime.protocol`; this module is the transport:

* **Auth** (only while clients exist; Magec leaves the channel open, we do not): the client token
  from ``Authorization: Bearer``, the ``token`` query parameter, a ``Sec-WebSocket-Protocol``
  entry ``bearer.<token>`` (then ``magec.voice`` is the protocol echoed back, never the token), or
  the cookie :data:`~magec.api.user.client_info.VOICE_COOKIE` that ``/api/v1/client/info`` sets
  (how Magec's own UI, which sends no token, gets in). A missing/invalid token is answered with
  an ``error`` message (code ``unauthorized``) and close code 4401.
* **Origin**: checked by :mod:`magec.api.guard` before this handler runs (same origin or
  ``server.corsOrigins``). The cookie counts only on a same-origin handshake (an ``Origin``
  naming this very host and port or ``server.publicURL``, or none): a browser sends it with *any* page's WebSocket of the
  same site — another port on ``localhost``, a sibling subdomain — and ``SameSite=Strict`` does not
  tell those apart. Cross-origin pages allowed by ``server.corsOrigins`` (``*`` included) must
  present the token themselves, as they must on the HTTP API (CORS there is without credentials).
* **Revocation**: the token is checked again on the first message after any configuration write
  (a new runtime): a client disabled, deleted or given a new token — or a first client created
  while the channel was open — ends its open connections with ``unauthorized`` (4401), as a new
  handshake would be refused; checking only at the handshake let a revoked device keep its
  connection, and its share of the connection limit, for as long as it kept sending.
* **Limits**: at most ``voice.events.maxConnections`` at once, and at most
  ``voice.events.maxConnectionsPerClient`` (default: half of them) per client token, so one client
  cannot hold the channel and lock every other client's devices out — one more gets an ``error``
  (``too_many_connections``, naming the limit) and close code 1013; each connection's audio is bounded by
  :class:`~magec.voice.realtime.limits.AudioBudget`.

The detectors run inline on the event loop: one frame costs about a millisecond (docs/voice.md has
the measured numbers), less than handing it to a thread would.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from magec.api.clients import caller_for_token
from magec.api.guard import normalise_origin, own_origin, same_origin
from magec.api.user.client_info import VOICE_COOKIE
from magec.context import AppContext
from magec.errors import AuthError
from magec.voice.realtime import (
    CLOSE_POLICY,
    CLOSE_TRY_LATER,
    CLOSE_UNAUTHORISED,
    ConnectionLimiter,
    Refusal,
    VoiceEventsSession,
    error,
)

log = logging.getLogger(__name__)

SUBPROTOCOL = "magec.voice"
TOKEN_PROTOCOL_PREFIX = "bearer."


def _same_origin(ws: WebSocket, public_origin: str) -> bool:
    """No ``Origin`` (not a browser), or one naming this server's scheme, host and port (the
    guard's own rule) or ``server.publicURL`` (behind a proxy that rewrites ``Host``, the page's
    origin is that one)."""
    origin = ws.headers.get("origin")
    if origin is None or same_origin(origin, own_origin(ws.scope, ws.headers.get("host", ""), public_origin)):
        return True
    return bool(public_origin) and normalise_origin(origin) == public_origin


def _token(ws: WebSocket, public_origin: str) -> tuple[str, str | None]:
    """``(token, subprotocol to accept)`` from the header, subprotocols, query or (same origin) cookie."""
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    reply = SUBPROTOCOL if SUBPROTOCOL in offered else None
    scheme, _, value = ws.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), reply
    for proto in offered:
        if proto.startswith(TOKEN_PROTOCOL_PREFIX):
            # a browser fails the handshake unless one offered protocol is echoed: never the token
            return proto[len(TOKEN_PROTOCOL_PREFIX) :], SUBPROTOCOL
    cookie = ws.cookies.get(VOICE_COOKIE) if _same_origin(ws, public_origin) else None
    token = ws.query_params.get("token") or cookie or ""
    return token, reply


async def _refuse(ws: WebSocket, message: dict[str, Any], code: int) -> None:
    await ws.send_json(message)
    await ws.close(code=code)


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter()
    settings = ctx.config.voice_events
    limiter = ConnectionLimiter(settings.max_connections if settings.enabled else 0, settings.max_connections_per_client)
    public_origin = normalise_origin(ctx.config.public_url) if ctx.config.public_url else ""

    @r.websocket("/api/v1/voice/events")
    async def voice_events(ws: WebSocket) -> None:
        token, subprotocol = _token(ws, public_origin)
        await ws.accept(subprotocol=subprotocol)
        if not settings.enabled:
            await _refuse(ws, error("the realtime voice channel is disabled (voice.events.enabled)", "disabled"), CLOSE_POLICY)
            return
        assert ctx.runtime is not None
        try:
            client = caller_for_token(await ctx.runtime.fresh(), token).client_id
        except AuthError as e:
            await _refuse(ws, error(e.message, "unauthorized"), CLOSE_UNAUTHORISED)
            return
        if not limiter.acquire(client):
            limit = (
                f"this client's share, voice.events.maxConnectionsPerClient = {limiter.per_key}"
                if limiter.full_for(client)
                else f"voice.events.maxConnections = {limiter.limit}"
            )
            await _refuse(
                ws, error(f"too many voice connections ({limit}); try again later", "too_many_connections"),
                CLOSE_TRY_LATER,
            )
            return
        session: VoiceEventsSession | None = None
        checked = ctx.runtime.current()
        try:
            session = VoiceEventsSession(settings)
            await ws.send_json(session.capabilities())
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                if ctx.runtime.current() is not checked:  # a write since the last check: the token again
                    checked = ctx.runtime.current()
                    try:
                        caller_for_token(checked, token)
                    except AuthError as e:
                        await _refuse(ws, error(e.message, "unauthorized"), CLOSE_UNAUTHORISED)
                        break
                try:
                    if msg.get("bytes") is not None:
                        out = session.on_audio(msg["bytes"])
                    else:
                        out = session.on_text(msg.get("text") or "")
                except Refusal as refusal:
                    await _refuse(ws, refusal.message, refusal.close_code)
                    break
                for message in out:
                    await ws.send_json(message)
        except WebSocketDisconnect:
            pass
        finally:
            limiter.release(client)
            if session is not None:
                session.close()

    return r
