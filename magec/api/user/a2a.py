"""A2A routes on the user app (Magec's paths; docs/a2a.md).

* ``GET /api/v1/a2a/.well-known/agent-card.json`` — discovery: the cards of every agent and flow
  with ``a2a.enabled`` (``?agent=<id>``: that one card). Public, as in Magec.
* ``GET /api/v1/a2a/{id}/.well-known/agent-card.json`` — one card; 404 when the app does not exist
  or A2A is not enabled on it. Public (A2A clients resolve it before authenticating).
* ``POST /api/v1/a2a/{id}`` — JSON-RPC 2.0 (``message/send``, ``message/stream`` as SSE,
  ``tasks/get``, ``tasks/cancel``; and A2A 1.0's ``SendMessage`` …), by a2a-sdk
  (:mod:`magec.a2a.service`). Auth as every user route: ``Authorization: Bearer mgc_…`` of an enabled
  client (checked before the body is read, :mod:`magec.api.limits`), open while no client exists;
  the client's ``allowedAgents`` must include the app (403); A2A disabled or unknown → 404; an app
  that could not be built → 503. The body is parsed and checked by magec first
  (:func:`magec.api.limits.parse_json`): one it refuses (malformed, NaN, too deep, …) is a JSON-RPC
  parse error (``-32700``) carrying magec's message; a ``historyLength`` past int32 is invalid
  params (``-32602``) naming it, and so is a message of more parts than
  :data:`magec.api.counts.MAX_PARTS_PER_MESSAGE` and an A2A 0.3 file part whose ``bytes`` is not base64
  (a2a-sdk answers it as an internal error). Everything is read from the runtime of this request, so toggling
  ``a2a.enabled`` is visible on the next request. A ``tasks/resubscribe`` (``SubscribeToTask``)
  stream takes an admission slot for as long as it is open, as a turn does (:func:`_admit_stream`).
  A ``message/send`` that failed at once on an open circuit breaker is answered like such a
  refusal: 503 with ``Retry-After`` and a JSON-RPC error (:func:`_breaker_open`).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response

from magec.a2a import A2A_USER, STREAM_METHODS, cards
from magec.agents.apps import App
from magec.api import counts, file_uris
from magec.api.clients import authenticate
from magec.api.errors import json_body
from magec.context import AppContext
from magec.errors import (
    BackendUnavailableError,
    NotFoundError,
    OverloadedError,
    RateLimitedError,
    ValidationError,
)
from magec.runtime.build import Runtime
from magec.runtime.run import require_app

if TYPE_CHECKING:
    from magec.a2a.service import A2aService
    from magec.runtime.admission import Ticket

CORS = {"Access-Control-Allow-Origin": "*"}  # cards are public documents (Magec sends the same)


def _not_enabled(app_id: str) -> NotFoundError:
    return NotFoundError(f"agent {app_id!r} not found or A2A not enabled")


def _served(rt: Runtime, app_id: str) -> App:
    app = rt.apps.get(app_id)
    if app is None or not cards.a2a_enabled(rt.snapshot, app_id):
        raise _not_enabled(app_id)
    return app


#: JSON-RPC 2.0's "Parse error" (a2a-sdk's ``JSONParseError``)
PARSE_ERROR = -32700


def _parse_error(err: ValidationError) -> Response:
    """A body magec refuses as JSON, answered as a2a-sdk answers malformed JSON (a JSON-RPC parse
    error, HTTP 200: A2A clients read errors from the JSON-RPC envelope) with magec's own message:
    the SDK's parser would pass on NaN and its ``ValueError`` messages name interpreter settings."""
    return JSONResponse({"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": str(err)}})


#: JSON-RPC 2.0's "Invalid params"
INVALID_PARAMS = -32602
#: JSON-RPC 2.0's "Internal error": what a2a-sdk answers a refusal of the server's (and magec a
#: database outage, with ``data.errorCode``); no code of the spec says "retry later"
INTERNAL_ERROR = -32603
#: ``historyLength`` is an int32 in a2a-sdk's protobuf types
INT32 = range(-(2**31), 2**31)


def _history_length_out_of_range(body: Any) -> Response | None:
    """An ``historyLength`` no int32 holds, answered as invalid params. a2a-sdk's 0.3 adapter (the
    method names most clients send) turns it into an *internal* error (-32603) and logs a traceback
    at ERROR for every such request; its 1.0 path already answers invalid params."""
    params = body.get("params") if isinstance(body, dict) else None
    if not isinstance(params, dict):
        return None
    config = params.get("configuration")
    for where, holder in (("params", params), ("params.configuration", config)):
        value = holder.get("historyLength") if isinstance(holder, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value not in INT32:
            assert isinstance(body, dict)
            return _invalid_params(body, f"{where}.historyLength: out of range (at most {INT32.stop - 1})")
    return None


def _invalid_params(body: dict[str, Any], message: str) -> Response:
    rid = body.get("id") if isinstance(body.get("id"), str | int) else None
    return JSONResponse({"jsonrpc": "2.0", "id": rid, "error": {"code": INVALID_PARAMS, "message": message}})


def _file_bytes_not_base64(body: Any) -> Response | None:
    """An A2A 0.3 file part whose ``bytes`` is no base64, answered as invalid params naming it.
    a2a-sdk's 0.3 adapter decodes it after validation, so ``binascii.Error`` reaches its catch-all:
    an *internal* error (-32603) and a traceback logged at ERROR for every such request."""
    params = body.get("params") if isinstance(body, dict) else None
    msg = params.get("message") if isinstance(params, dict) else None
    parts = msg.get("parts") if isinstance(msg, dict) else None
    for i, part in enumerate(parts if isinstance(parts, list) else []):
        file = part.get("file") if isinstance(part, dict) else None
        data = file.get("bytes") if isinstance(file, dict) else None
        if not isinstance(data, str):
            continue  # a2a-sdk's own validation names a wrong type
        try:
            base64.b64decode(data)  # as a2a-sdk decodes it
        except (binascii.Error, ValueError):
            assert isinstance(body, dict)
            return _invalid_params(body, f"params.message.parts[{i}].file.bytes: is not valid base64")
    return None


def _too_many_parts(body: Any) -> Response | None:
    """A message of more than :data:`~magec.api.counts.MAX_PARTS_PER_MESSAGE` parts, answered as
    invalid params naming the limit before a2a-sdk and ADK convert each part (~50 µs apiece on the
    event loop: 60,000 held every other request for 3 s)."""
    params = body.get("params") if isinstance(body, dict) else None
    msg = params.get("message") if isinstance(params, dict) else None
    try:
        counts.check_parts(msg.get("parts") if isinstance(msg, dict) else None, "params.message.parts")
    except ValidationError as err:
        assert isinstance(body, dict)
        return _invalid_params(body, str(err))
    return None


def _file_uri(ctx: AppContext, rt: Runtime, app: App, body: Any) -> Response | None:
    """A file part named by URI for an agent on a Gemini backend (:mod:`magec.api.file_uris`),
    answered as invalid params naming the part."""
    params = body.get("params") if isinstance(body, dict) else None
    try:
        file_uris.check(ctx.config.allow_client_file_uris, rt.snapshot, app,
                        a2a=params.get("message") if isinstance(params, dict) else None)
    except ValidationError as err:
        assert isinstance(body, dict)
        return _invalid_params(body, str(err))
    return None


def _streaming(body: Any) -> bool:
    return isinstance(body, dict) and body.get("method") in STREAM_METHODS


#: the methods that open a stream without starting a turn (which admission would count)
RESUBSCRIBE = frozenset({"tasks/resubscribe", "SubscribeToTask"})


def _admit_stream(ctx: AppContext, body: Any, client: str | None) -> tuple[Ticket | None, Response | None]:
    """A slot of :class:`~magec.runtime.admission.Admission` for a ``tasks/resubscribe`` stream,
    counted like a turn against ``limits.maxRuns`` and ``maxRunsPerClient``: a stream follows its
    task (taps its events, or reads its stored copy every second) for as long as it runs, and
    uncounted, one client could open any number while ``message/stream`` was refused. Past a limit:
    HTTP 429 (``maxRunsPerClient``) or 503 (``maxRuns``) with ``Retry-After`` and a JSON-RPC error
    whose ``data`` carries ``errorCode`` and ``retryAfter``."""
    admission = ctx.extras.get("admission")
    if admission is None or not isinstance(body, dict) or body.get("method") not in RESUBSCRIBE:
        return None, None
    try:
        return admission.enter(client or "", (), "turns and A2A streams"), None
    except (RateLimitedError, OverloadedError) as err:
        rid = body.get("id") if isinstance(body.get("id"), str | int) else None
        data = {"errorCode": err.code, "retryAfter": err.retry_after}
        return None, JSONResponse({"jsonrpc": "2.0", "id": rid, "error": {"code": INTERNAL_ERROR, "message": str(err),
                                                                          "data": data}},
                                  status_code=err.status_code, headers={"Retry-After": str(err.retry_after)})


#: the states of a failed task, in A2A 0.3's JSON and 1.0's
_FAILED = frozenset({"failed", "TASK_STATE_FAILED"})


def _breaker_open(response: Response, body: Any) -> Response:
    """A non-streamed send whose task failed at once on an open circuit breaker, answered as a
    refusal is (:func:`_admit_stream`): HTTP 503 with ``Retry-After`` (the seconds until the
    breaker lets a probe through) and a JSON-RPC error whose ``data`` carries ``errorCode``
    (``backend_unavailable``), ``retryAfter`` and the ``taskId`` (``tasks/get`` still reads it) —
    so a client backs off instead of reading a failed task as final. Any other answer as it is."""
    raw = getattr(response, "body", None)
    if response.status_code != 200 or not isinstance(raw, bytes | memoryview) or b"backend_unavailable" not in raw:
        return response
    try:
        data = json.loads(bytes(raw))
        result = data.get("result") or {}
        task = result.get("task", result)
        status = task.get("status") or {}
        meta = (status.get("message") or {}).get("metadata") or {}
        state = status.get("state")
    except (ValueError, AttributeError):
        return response
    if state not in _FAILED or meta.get("errorCode") != BackendUnavailableError.code:
        return response
    wait = max(1, math.ceil(float(meta.get("retryAfter") or 1)))
    message = "".join(str(p.get("text") or "") for p in (status.get("message") or {}).get("parts") or [])
    rid = body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str | int) else None
    error = {"code": INTERNAL_ERROR, "message": message or BackendUnavailableError.code,
             "data": {"errorCode": BackendUnavailableError.code, "retryAfter": wait, "taskId": task.get("id")}}
    return JSONResponse({"jsonrpc": "2.0", "id": rid, "error": error}, status_code=503,
                        headers={**_cors(response), "Retry-After": str(wait)})


def _cors(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def _released_with(response: Response, ticket: Ticket) -> Response:
    """``response`` with ``ticket`` released when its stream ends, however it ends (an answer that
    is no stream, e.g. an unknown task's error, releases it at once)."""
    inner = getattr(response, "body_iterator", None)
    if not hasattr(response, "ping_interval") or inner is None:
        ticket.release()
        return response

    async def body() -> AsyncIterator[Any]:
        try:
            async for chunk in inner:
                yield chunk
        finally:  # the end, the client gone (cancelled) or the server stopping
            ticket.release()

    response.body_iterator = body()  # type: ignore[attr-defined]
    before = response.background

    async def after() -> None:  # never iterated (an early cancel): released after the response
        ticket.release()
        if before is not None:
            await before()

    response.background = BackgroundTask(after)
    return response


def router(ctx: AppContext, service: A2aService | None = None) -> APIRouter:
    r = APIRouter(prefix=cards.PREFIX, tags=["a2a"])
    made: list[A2aService] = [service] if service is not None else []

    def a2a() -> A2aService:
        """The process's one A2A service, made by the first JSON-RPC call (a2a-sdk is loaded by
        then: :func:`magec.a2a.preload` imported it when an app was first served over A2A)."""
        if not made:
            from magec.a2a.durable import DurableTaskStore
            from magec.a2a.service import MAX_TASKS, TASK_BYTES_PER_BODY, A2aService

            budget = TASK_BYTES_PER_BODY * ctx.config.max_body_bytes  # tasks hold request bodies
            # written through to the database: tasks/get answers on every replica, after a restart
            tasks = DurableTaskStore(ctx.store.engine, ctx.store.cipher, MAX_TASKS, budget)
            made.append(A2aService(ping=ctx.config.stream_ping, tasks=tasks))
            ctx.extras["a2a"] = made[0]
        return made[0]

    async def runtime() -> Runtime:
        assert ctx.runtime is not None
        return await ctx.runtime.fresh()

    def base_url(request: Request) -> str:
        return ctx.config.public_url or str(request.base_url)

    @r.get("/.well-known/agent-card.json", summary="Cards of every A2A-enabled agent and flow")
    async def discovery(request: Request, agent: str = "") -> Response:
        rt = await runtime()
        if agent:
            return JSONResponse(cards.card_json(_served(rt, agent), rt.snapshot, base_url(request)), headers=CORS)
        served = [a for a in rt.apps.values() if cards.a2a_enabled(rt.snapshot, a.id)]
        served.sort(key=lambda a: (a.name, a.id))
        return JSONResponse([cards.card_json(a, rt.snapshot, base_url(request)) for a in served], headers=CORS)

    @r.get("/{app_id}/.well-known/agent-card.json", summary="The A2A agent card of an agent or flow")
    async def agent_card(request: Request, app_id: str) -> Response:
        rt = await runtime()
        return JSONResponse(cards.card_json(_served(rt, app_id), rt.snapshot, base_url(request)), headers=CORS)

    @r.post("/{app_id}", summary="A2A JSON-RPC 2.0 (message/send, message/stream, tasks/get, tasks/cancel)")
    async def invoke(request: Request, app_id: str) -> Response:
        rt = await runtime()
        caller = authenticate(request, rt)
        _served(rt, app_id)
        caller.check(app_id)
        app = require_app(rt, app_id)  # 503 when it could not be built
        try:  # checked like every body (depth, NaN, digits, strings) before the SDK reads it
            body = await json_body(request)
        except ValidationError as err:
            return _parse_error(err)
        refused = (_too_many_parts(body) or _history_length_out_of_range(body) or _file_bytes_not_base64(body)
                   or _file_uri(ctx, rt, app, body))
        if refused is not None:
            return refused
        ticket, refused = _admit_stream(ctx, body, caller.client_id)
        if refused is not None:
            return refused
        streaming = _streaming(body)
        from magec.a2a.executor import Turn

        try:
            response = await a2a().handle(request, Turn(rt, app, caller.owner_key(A2A_USER), caller.client_id, streaming))
        except BaseException:
            if ticket is not None:
                ticket.release()
            raise
        if ticket is not None:
            return _released_with(response, ticket)
        return response if streaming else _breaker_open(response, body)

    return r
