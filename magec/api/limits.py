"""Hostile input stops at the door: body size limits, JSON depth and string checks, client hang-ups.

* :class:`InputGuard` is a plain ASGI middleware on both apps. It sits *inside* authentication
  (the admin auth middleware on the admin app; ``preauth`` on the user app), so an unauthenticated
  request is answered 401 before a byte of its body is read. It refuses a declared
  ``Content-Length`` over the route's limit with 413 without reading anything, and counts the body
  as the handler reads it, failing the read with 413 the moment the limit is passed (chunked
  uploads included). Paths and query strings holding NUL are refused with 400. On the user app it
  also keeps the request bodies held at once, all requests together, within a budget
  (:class:`BodyBudget`, ``limits.bodyBytesInFlight``): each body is within its route's limit, but
  nothing else bounded how many were held together — eight concurrent 24 MB voice uploads took a
  worker from 274 MB to 716 MB, and any client token can send them. A body that would pass the
  budget is refused with 503 ``overloaded`` and ``Retry-After`` (at once when its declared length
  does not fit, else the moment its read would pass it), as a turn over ``limits.maxRuns`` is.
  One client token may hold at most half of the budget (:data:`CLIENT_SHARE`; never less than one
  body of the largest route limit): a body past its share is refused the same way with 429
  ``too_many_requests``. A body's declared length counts in its client's share from its head on
  (one without a declared length as it is read), so the share is full once the bodies are
  accepted, not once they have arrived. Without the share, one token holder's four uploads left unfinished
  (a byte sent every minute keeps one open) held the whole budget, and every other client's
  requests with a body were refused 503 for as long as they were kept open.
* :func:`parse_json` is the one way a JSON body becomes Python (:func:`parse_field` the one way a
  JSON document inside a string field does): malformed JSON, ``NaN`` / ``Infinity``, numbers too
  long to read, nesting deeper than :data:`MAX_JSON_DEPTH`, lone surrogates and NUL characters are
  400s that name the field, never a ``RecursionError``, a ``ValueError`` or a database error later.
* :func:`answer_while_connected` runs a non-streaming turn so that a client hanging up cancels it
  (and with it the upstream provider call).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from magec import jsontext
from magec.api import jsonload
from magec.backends.relay import Relay
from magec.errors import MagecError, OverloadedError, PayloadTooLargeError, RateLimitedError, ValidationError
from magec.jsontext import MAX_JSON_DEPTH, too_deep
from magec.runtime.run import Answer, TurnEvent, answer

#: bodies longer than this (characters) are parsed by :func:`magec.api.jsonload.loads`; a shorter
#: one is a C call of under a millisecond
STEPPED_JSON = 64 * 1024
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ClientDisconnected(Exception):
    """The client went away before the answer was ready; nothing is sent."""


class BodyTooLarge(PayloadTooLargeError):
    field = "body"


def _too_large(limit: int) -> PayloadTooLargeError:
    return BodyTooLarge(f"body: request body is larger than the {limit} bytes allowed")


#: the part of ``limits.bodyBytesInFlight`` one client token may hold (see the module docstring)
CLIENT_SHARE = 0.5


class BodyBudget:
    """The request body bytes one process holds at once (see the module docstring): a body's bytes
    are taken as they are read and given back when its request ends. ``per_client``: what the
    bodies of one client (a non-empty owner) may hold together; the owner ``""`` (open mode, a
    chat platform's hook) has the whole budget only."""

    def __init__(self, limit: int, per_client: int | None = None) -> None:
        self.limit = limit
        self.per_client = limit if per_client is None else per_client
        self.used = 0
        self.by_client: dict[str, int] = {}

    def check(self, size: int, owner: str = "") -> None:
        """:class:`OverloadedError` when ``size`` more bytes do not fit the budget,
        :class:`RateLimitedError` when they do not fit ``owner``'s share of it."""
        if self.used + size > self.limit:
            raise _overloaded()
        if owner and self.by_client.get(owner, 0) + size > self.per_client:
            raise _share_full()

    def take(self, size: int, owner: str = "") -> None:
        """Take ``size`` more bytes, for ``owner``'s share too (:meth:`check` raises when they do
        not fit); ``owner`` ``""``: the budget only."""
        self.check(size, owner)
        self.used += size
        self._share(owner, size)

    def give(self, size: int, owner: str = "") -> None:
        self.used -= size
        self._share(owner, -size)

    def reserve(self, size: int, owner: str) -> None:
        """Count ``size`` in ``owner``'s share at once (a declared length); :class:`RateLimitedError`
        when it does not fit."""
        if owner and self.by_client.get(owner, 0) + size > self.per_client:
            raise _share_full()
        self._share(owner, size)

    def release(self, size: int, owner: str) -> None:
        self._share(owner, -size)

    def _share(self, owner: str, size: int) -> None:
        if not owner or not size:
            return
        left = self.by_client.get(owner, 0) + size
        if left > 0:
            self.by_client[owner] = left
        else:
            self.by_client.pop(owner, None)


def _share_full() -> RateLimitedError:
    return RateLimitedError("this client holds as many request bodies at once as one client may "
                            "(half of limits.bodyBytesInFlight); send it again shortly", retry_after=1)


def _overloaded() -> OverloadedError:
    return OverloadedError("the server holds as many request bodies as it takes at once "
                           "(limits.bodyBytesInFlight); send it again shortly")


class InputGuard:
    """Per-route body limits, enforced before and while reading; NUL-free paths; pre-auth hook.

    ``limit_for(path)`` gives the byte limit of a route. ``preauth(request)`` (user app) raises a
    :class:`MagecError` to refuse a request before its body is touched, and else answers the id of
    the client the request comes from (``""``: none), whose share of ``budget`` its body counts in. ``on_request(request)`` may
    return a callable run when the request ends (the loop guard's context variable). ``budget``:
    the bodies held at once (:class:`BodyBudget`).
    """

    def __init__(
        self,
        app: ASGIApp,
        limit_for: Callable[[str], int],
        preauth: Callable[[Request], Awaitable[str]] | None = None,
        on_request: Callable[[Request], Callable[[], None] | None] | None = None,
        budget: BodyBudget | None = None,
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.preauth = preauth
        self.on_request = on_request
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from magec.api.errors import to_response

        request = Request(scope, receive)
        done: Callable[[], None] | None = None
        owner = ""
        reserved = 0  # the declared length, counted in the owner's share from the head on
        try:
            _check_url(scope)
            if self.on_request is not None:
                done = self.on_request(request)
            if self.preauth is not None and scope["method"] in _BODY_METHODS:
                owner = await self.preauth(request)
            limit = self.limit_for(scope["path"])
            declared = request.headers.get("content-length", "")
            if declared.strip().isdigit() and int(declared) > limit:
                raise _too_large(limit)
            if declared.strip().isdigit() and self.budget is not None:
                self.budget.check(int(declared), owner)  # before a byte of it is read
                if owner:
                    self.budget.reserve(int(declared), owner)
                    reserved = int(declared)
        except MagecError as err:
            if done is not None:
                done()
            # The body is left unread: the server closes the connection after this answer.
            await to_response(err)(scope, receive, send)
            return

        seen = 0
        budget = self.budget

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                if seen + size > limit:
                    raise _too_large(limit)
                if budget is not None:
                    budget.take(size, "" if reserved else owner)
                seen += size
            return message

        try:
            await self.app(scope, counted, send)
        finally:
            if budget is not None:
                budget.give(seen, "" if reserved else owner)
                budget.release(reserved, owner)
            if done is not None:
                done()


def _check_url(scope: Scope) -> None:
    if "\x00" in scope["path"]:
        raise ValidationError("path: must not contain NUL characters", field="path")
    query: bytes = scope.get("query_string", b"")
    if query and b"%00" in query.lower() or b"\x00" in unquote_to_bytes(query):
        raise ValidationError("query: must not contain NUL characters", field="query")


# -- JSON ----------------------------------------------------------------------------------------
def parse_json(raw: bytes, *, required: bool = True) -> Any:
    """``raw`` as JSON, checked (see the module docstring); ``None`` for an empty optional body."""
    if not raw.strip():
        if required:
            raise ValidationError("body: request body is required", field="body")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("body: request body is not valid UTF-8", field="body") from None
    # a large body is parsed in a worker thread: in steps, so the thread lets go of the GIL
    value = jsontext.decode(text, "body", "request body", loads=_loads(text))
    check_value(value)
    return value


def _loads(text: str) -> Callable[..., Any]:
    return jsonload.loads if len(text) > STEPPED_JSON else json.loads


def parse_field(text: str, where: str) -> Any:
    """A JSON document held in a string field (``where``, e.g. a tool call's ``arguments``), parsed
    and checked like a body; every failure is a :class:`ValidationError` naming ``where``."""
    value = jsontext.decode(text, where, loads=_loads(text))
    check_value(value, where)
    return value


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def check_string(value: str, where: str, what: str = "") -> None:
    """A string that is safe to store and to encode: no lone surrogates, no NUL.

    The message never quotes the value: a lone surrogate cannot even be encoded into the answer.
    """
    if "\x00" in value:
        raise ValidationError(f"{where}: {what or 'must not contain'} NUL characters", field=where)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"{where}: {what or 'contains'} an invalid Unicode character (lone surrogate)", field=where
        ) from None


def check_value(value: Any, root: str = "") -> None:
    """Depth, number and string checks over a parsed JSON value, iteratively (no recursion to
    exhaust). Fields are named from ``root`` (``""``: the request body, its keys named bare)."""
    stack: list[tuple[Any, str, int]] = [(value, root, 1)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, str):
            check_string(node, where or "body")
            continue
        if isinstance(node, float) and not math.isfinite(node):
            # 1e999 reads as inf: no JSON answer could show it back
            raise ValidationError(f"{where or 'body'}: a number is out of range", field=where or "body")
        if not isinstance(node, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise too_deep(where or "body")
        if isinstance(node, dict):
            for k, v in node.items():
                check_string(k, where or "body", "a key must not contain" if "\x00" in k else "a key has")
                stack.append((v, _path(where, k), depth + 1))
        else:
            for i, v in enumerate(node):
                stack.append((v, _path(where or "body", i), depth + 1))


# -- client disconnects -------------------------------------------------------------------------
#: how often a turn that has not answered yet listens for its client hanging up (non-streamed
#: turns here; a stream before its first output, ``api/user/openai/chat.py``)
LISTEN_SECONDS = 1.0


async def answer_while_connected(request: Request, turn: AsyncGenerator[TurnEvent, None]) -> Answer:
    """:func:`magec.runtime.run.answer` of ``turn`` (a non-streamed turn), ended with
    :class:`ClientDisconnected` when the client hangs up.

    Streaming responses are cancelled by the server on a disconnect; a non-streaming handler would
    otherwise keep a turn (and its provider call) running for nobody. Every
    :data:`LISTEN_SECONDS` the turn's relay is poked and the handler asks the server whether the
    client is still there (once the body is read, a pending ``http.disconnect`` is all ``receive``
    can hold): a hang-up cancels the turn within that time. Why a timer, not a task waiting on
    ``receive``: the answer is then awaited in the handler's own task, with no task between the
    turn and the response and none started per request (a turn's answer reaches its response in one
    wake-up).
    """
    sink = Relay()
    loop = asyncio.get_running_loop()
    timer = loop.call_later(LISTEN_SECONDS, sink.poke)

    async def listen() -> None:
        nonlocal timer
        if await request.is_disconnected():
            raise ClientDisconnected()
        timer = loop.call_later(LISTEN_SECONDS, sink.poke)

    try:
        return await answer(turn, sink, listen)
    finally:
        timer.cancel()


# -- wiring -------------------------------------------------------------------------------------
#: room for multipart boundaries and form fields on top of a voice upload's audio limit
UPLOAD_OVERHEAD = 64 * 1024
#: OpenAI's speech-to-text upload route (:mod:`magec.api.user.openai.media`)
AUDIO_TRANSCRIPTIONS = "/v1/audio/transcriptions"
#: platform webhooks (Telegram) authenticate with the platform's secret header, not a client token
PLATFORM_HOOKS = "/api/v1/hooks/"
#: webhook clients' route (magec.api.user.webhooks): it checks a signed client's signature itself
WEBHOOKS = "/api/v1/webhooks/"
#: the admin route taking a backup archive as its body (``limits.backupBytes``)
RESTORE_PATH = "/api/v1/admin/settings/restore"


def _upload_paths() -> list[re.Pattern[str]]:
    """The voice upload routes, as their routers declare them (user app and admin playground),
    compiled as Starlette matches them: only these paths get the upload limit, not any path that
    happens to contain ``/voice/`` (a session id "transcription" under a user id "voice")."""
    from starlette.routing import compile_path

    from magec.api.admin import voice as admin_voice
    from magec.api.admin.app import PREFIX as ADMIN
    from magec.api.user import voice

    templates = (voice.PREFIX + voice.TRANSCRIPTION, ADMIN + admin_voice.PREFIX + voice.TRANSCRIPTION)
    return [compile_path(t)[0] for t in templates]


def install(app: Any, ctx: Any, *, user: bool) -> None:
    """Add :class:`InputGuard` to ``app``. Call it before any auth middleware is added (so auth is
    outer and runs first); on the user app, client-token auth and the loop guard run in it."""
    from magec import hops
    from magec.api.auth import bearer
    from magec.api.clients import authenticate, webhook_client

    config = ctx.config
    uploads = _upload_paths()

    def limit_for(path: str) -> int:
        # Voice uploads are audio; everything else is JSON (or empty).
        if path == AUDIO_TRANSCRIPTIONS or any(p.match(path) for p in uploads):
            return int(config.upload_limit_bytes) + UPLOAD_OVERHEAD
        if path == RESTORE_PATH:  # a backup archive (docs/backup.md)
            return int(config.backup_limit_bytes)
        if path.startswith("/api/v1/admin/skills/") and (path.endswith("/references") or path.endswith("/upload")):
            from magec.api.admin.skills import UPLOAD_BODY_BYTES  # a skill package (docs/skills.md)

            return UPLOAD_BODY_BYTES
        return int(config.max_body_bytes)

    async def preauth(request: Request) -> str:
        """The client id of ``request`` (``""``: none), or the refusal of its token."""
        if request.url.path.startswith(PLATFORM_HOOKS):
            return ""  # a chat platform's webhook: checked by its own secret (magec.api.user.bot_hooks)
        if ctx.runtime is None:
            return ""
        runtime = await ctx.runtime.fresh()
        path: str = request.scope["path"]
        hook = path[len(WEBHOOKS):] if path.startswith(WEBHOOKS) else None
        if hook and "/" not in hook and runtime.snapshot.client_raw:
            # a webhook client's route: only its own token, with Magec's answers (api/clients.py)
            webhook_client(runtime, hook, bearer(request))
            return hook
        # the webhook route checks a signed client's body signature itself (api/user/webhooks)
        return authenticate(request, runtime, signed=hook is not None).client_id or ""

    def loop_guard(request: Request) -> Callable[[], None]:
        token = hops.enter(hops.check(request.headers.get(hops.HEADER)))
        return lambda: hops.leave(token)

    if user:
        total = config.body_bytes_in_flight or 4 * int(config.upload_limit_bytes)
        largest = max(int(config.upload_limit_bytes) + UPLOAD_OVERHEAD, int(config.max_body_bytes))
        # one client's share holds at least one body of the largest route (if the budget does)
        budget = BodyBudget(total, per_client=max(int(total * CLIENT_SHARE), min(total, largest)))
        app.add_middleware(InputGuard, limit_for=limit_for, preauth=preauth, on_request=loop_guard, budget=budget)
    else:
        app.add_middleware(InputGuard, limit_for=limit_for)
