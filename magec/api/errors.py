"""Error → HTTP mapping, in one place. Every message passes the secret redactor."""

from __future__ import annotations

import functools
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from magec import errors, heap
from magec.api.limits import ClientDisconnected, parse_json
from magec.api.routing import methods_served
from magec.errors import (
    ConflictError,
    DatabaseUnavailableError,
    MagecError,
    OverloadedError,
    UnavailableError,
)
from magec.loop import off_loop
from magec.redact import redact
from magec.store.pool import Reachability, may_be_connectivity
from magec.store.validation import loc_to_path

log = logging.getLogger("magec.api")


#: the code of an error that is not a MagecError (framework 404/405, guards), by HTTP status
_CODE_BY_STATUS = {
    400: errors.ConfigError.code,
    401: errors.AuthError.code,
    403: errors.ForbiddenError.code,
    404: errors.NotFoundError.code,
    409: errors.ConflictError.code,
    413: errors.PayloadTooLargeError.code,
    429: errors.RateLimitedError.code,
    503: errors.AgentUnavailableError.code,
    508: errors.LoopDetectedError.code,
}


def _classes(cls: type[MagecError]) -> list[type[MagecError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _classes(sub))]


def status_for_code(code: str | None) -> int:
    """The HTTP status of the error whose ``code`` is ``code`` (a failed turn's ``errorCode``);
    502 for a code that is not in :mod:`magec.errors` (e.g. one ADK made up)."""
    for cls in _classes(MagecError):
        if cls.code == code:
            return cls.status_code
    return 502


def error_response(status: int, message: str, *, code: str | None = None, **extra: Any) -> JSONResponse:
    """``{"error": <redacted message>, "code": <code>, ...extra}``: the one error body of both apps;
    ``code`` is from the vocabulary of :mod:`magec.errors` (by default the one for ``status``)."""
    headers = extra.pop("headers", None)
    if code is None:
        code = _CODE_BY_STATUS.get(status, errors.ConfigError.code if status < 500 else errors.MagecError.code)
    return JSONResponse({"error": redact(message), "code": code, **extra}, status_code=status, headers=headers)


def to_response(err: MagecError) -> JSONResponse:
    extra: dict[str, Any] = {}
    if isinstance(err, ConflictError) and err.references:
        extra["references"] = err.references
    # the error tree's ``retry_after`` (a limit's, a provider's, an open breaker's next probe) is
    # the client's wait; a database or session store that is down is worth another try in 5 s
    wait = 5 if isinstance(err, DatabaseUnavailableError | UnavailableError) else getattr(err, "retry_after", None)
    if wait:
        extra["headers"] = {"Retry-After": str(int(wait))}
    field = getattr(err, "field", None)
    if field:
        extra["field"] = field
    return error_response(err.status_code, err.message, code=err.code, **extra)


#: what a request that failed while magec's own database is unreachable answers (and the readiness
#: probe, magec.api.health): the balancer and the client retry, nobody files a bug
DATABASE_DOWN = DatabaseUnavailableError("magec's database cannot be reached")
#: how long a failed request waits for the database to answer before it is called unreachable
DATABASE_CHECK_TIMEOUT = 2.0


def install(app: FastAPI) -> None:
    @app.exception_handler(MagecError)
    async def _magec(_request: Request, err: MagecError) -> JSONResponse:
        return to_response(err)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        loc = tuple(first.get("loc", ()))
        if first.get("type") == "json_invalid" or (
            loc[:1] == ("body",) and first.get("type") == "model_attributes_type"
        ):
            return error_response(
                400,
                "request body is not valid JSON"
                if first.get("type") == "json_invalid"
                else "request body must be a JSON object",
            )
        where = loc_to_path(loc[1:]) if loc and loc[0] in ("body", "query", "path") else loc_to_path(loc)
        msg = first.get("msg", "invalid request")
        if first.get("type") == "missing":
            msg = "is required"
        return error_response(
            400, f"{where}: {msg}" if where else msg, code=errors.ValidationError.code, field=where or None
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        headers = getattr(err, "headers", None)
        if err.status_code == 405:
            served = methods_served(request)
            if not served:
                # only a catch-all (the UI's GET, a static mount) had the path: unknown, not a wrong method
                return error_response(404, f"no route for {request.url.path}")
            # every route of the path, not only the first one Starlette tried (GET of GET-and-POST)
            allow = served + (["HEAD"] if "GET" in served else [])
            headers = {**(headers or {}), "Allow": ", ".join(allow)}
        return error_response(err.status_code, str(err.detail), headers=headers)

    @app.exception_handler(ClientDisconnected)
    @app.exception_handler(ClientDisconnect)  # starlette's: the client left while its body was read
    async def _gone(_request: Request, _err: Exception) -> Response:
        # Nobody is listening; 499 (nginx's "client closed request") only shows up in metrics.
        return Response(status_code=499)

    @app.exception_handler(OSError)
    @app.exception_handler(sa_exc.DBAPIError)
    async def _database(request: Request, err: Exception) -> JSONResponse:
        # the database's driver or socket failed: while the database is down this is an outage
        # (503 + Retry-After, one warning line), not a bug; otherwise the same 500 as any bug.
        # Only an error that can be the database's connection waits for the check (a full disk
        # cannot), and failures at once share one check (magec.store.pool.Reachability)
        ctx = getattr(request.app.state, "ctx", None)
        if ctx is None or not may_be_connectivity(err):
            return _internal(request, err, exc_info=True)
        cause = await Reachability.of(ctx.store.engine, DATABASE_CHECK_TIMEOUT).cause()
        if cause is None:
            return _internal(request, err, exc_info=True)
        if isinstance(cause, OverloadedError):  # no connection free to check: busy, not down
            log.warning("%s %s failed (%s) while the database pool is exhausted: answering overloaded",
                        request.method, request.url.path, redact(repr(err)))
            return to_response(cause)
        log.warning("%s %s failed: magec's database cannot be reached: %s", request.method,
                    request.url.path, redact(repr(cause)))
        return to_response(DATABASE_DOWN)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        return _internal(request, err)


def _internal(request: Request, err: Exception, exc_info: bool = False) -> JSONResponse:
    """500 with a request id. The exception text may hold SQL, pool state or paths: it goes to the
    log (redacted), and the client gets an id to quote when reporting it. ``exc_info``: log the
    traceback here (a handler of the exception middleware; the catch-all one is re-raised by
    Starlette and uvicorn logs it)."""
    request_id = uuid.uuid4().hex[:16]
    log.error(
        "unhandled error on %s %s (request id %s): %s",
        request.method,
        request.url.path,
        request_id,
        redact(repr(err)),
        exc_info=exc_info,
    )
    return error_response(
        500,
        f"internal error (request id {request_id})",
        requestId=request_id,
        headers={"X-Request-Id": request_id},
    )


#: bodies above this size are parsed and checked in a worker thread: the walk costs ~0.1 ms per KB
#: on a slow host (a 4,000-message history, 270 KB: 26 ms), and the hand-over ~0.1 ms
LARGE_BODY = 32 * 1024


async def json_object(request: Request) -> dict[str, Any]:
    """The JSON body (:func:`json_body`), which must be an object; else 400."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise errors.ValidationError("request body must be a JSON object")
    return body


async def json_body(request: Request, *, required: bool = True) -> Any:
    """The parsed, checked JSON body (:func:`magec.api.limits.parse_json`); 400 naming the problem."""
    raw = await request.body()
    if len(raw) > LARGE_BODY:
        with heap.deferred():  # no older collection while it is parsed (magec.heap)
            return await off_loop(functools.partial(parse_json, raw, required=required))
    return parse_json(raw, required=required)
