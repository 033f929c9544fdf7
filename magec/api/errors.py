"""Error → HTTP mapping, in one place. Every message passes the secret redactor."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from magec.errors import BackendRateLimitError, ConflictError, MagecError, RateLimitedError
from magec.redact import redact
from magec.store.validation import loc_to_path

log = logging.getLogger("magec.api")


def error_response(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = extra.pop("headers", None)
    return JSONResponse({"error": redact(message), **extra}, status_code=status, headers=headers)


def to_response(err: MagecError) -> JSONResponse:
    extra: dict[str, Any] = {}
    if isinstance(err, ConflictError) and err.references:
        extra["references"] = err.references
    if isinstance(err, RateLimitedError):
        extra["headers"] = {"Retry-After": str(err.retry_after)}
    if isinstance(err, BackendRateLimitError) and err.retry_after:
        extra["headers"] = {"Retry-After": str(int(err.retry_after))}
    field = getattr(err, "field", None)
    if field:
        extra["field"] = field
    return error_response(err.status_code, err.message, **extra)


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
        return error_response(400, f"{where}: {msg}" if where else msg, field=where or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, err: StarletteHTTPException) -> JSONResponse:
        return error_response(err.status_code, str(err.detail), headers=getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, err: Exception) -> JSONResponse:
        log.error("unhandled error: %s", redact(repr(err)), exc_info=False)
        return error_response(500, "internal error: " + redact(str(err))[:300])


async def json_body(request: Request) -> Any:
    """The parsed JSON body; 400 ``{"error": ...}`` for an empty or malformed body."""
    from magec.errors import ValidationError

    raw = await request.body()
    if not raw.strip():
        raise ValidationError("request body is required")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValidationError(f"request body is not valid JSON: {e}") from None
