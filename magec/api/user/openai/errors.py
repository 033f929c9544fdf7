"""OpenAI's error object on ``/v1``: ``{"error": {"message", "type", "code", "param"}}``.

Contract: every error answer under ``/v1/`` — raised by a route, refused by the auth/limit/guard
middleware, or a framework 404/405 — leaves with OpenAI's shape and status, so OpenAI SDKs show
``error.message`` and raise their typed exceptions (``NotFoundError``, ``RateLimitError``, …).
``code`` keeps magec's code (the vocabulary of :mod:`magec.errors`: ``rate_limit``, ``timeout``,
``agent_unavailable``, …) except ``model_not_found`` for an unknown model, the one OpenAI clients
look for; ``param`` is the request
field at fault (``model``, ``messages[2].content``) or ``null``. Headers (``Retry-After``, CORS,
``X-Session-Id``) pass through. ``/api/v1/*`` keeps magec's ``{"error", "code"}``: the rewrite is
scoped to the ``/v1/`` prefix.

An error that the same request would only meet again carries ``x-should-retry: false`` (the
header OpenAI's own SDKs obey before their status rule): they retry every 5xx twice by default,
so a turn stopped at ``llm_calls_exceeded`` (508) or a flow's ``flow_runaway`` (500) was run three
times over — up to three times its model calls and cost — and a wrong provider key was sent three
times, before the user saw the error. ``agent_unavailable`` too (an invalid agent, a voice route
of an agent with no voice: they stay so until an admin changes the agent, and every write is live
when it answers) — except while the agent is ``not built yet``. Transient failures (``timeout``,
``connection``, ``backend_unavailable``, ``overloaded``, ``rate_limit``) keep the SDKs' retries.

:func:`error_object` is also what a failed stream sends as its last chunk.
"""

from __future__ import annotations

import json
from typing import Any

from magec import errors
from magec.errors import UnknownModelError

PREFIX = "/v1/"

#: codes whose failure repeats on a retry of the same request: a deterministic run failure (the
#: flow-node family, the model-call cap, a request loop) or the provider refusing it as such
NOT_RETRYABLE = frozenset(
    cls.code
    for cls in (
        errors.LlmCallsExceededError, errors.FlowNodeError, errors.FlowRunawayError, errors.CodeTimeoutError,
        errors.CodeMemoryError, errors.CodeOutputTooLargeError, errors.LoopDetectedError,
        errors.BackendAuthError, errors.BackendBadRequestError, errors.BackendNotFoundError,
        errors.ContentFilteredError,
    )
)

#: OpenAI's ``type`` by HTTP status (the SDKs map the status; ``type`` is for humans and logs)
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def openai_code(code: str | None, param: str | None) -> str | None:
    if code == UnknownModelError.code:
        return "model_not_found"
    return code


def error_object(status: int, message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """``{"error": {...}}`` for one failure (``message`` already redacted)."""
    return {
        "error": {
            "message": message,
            "type": error_type(status),
            "code": openai_code(code, param),
            "param": param,
        }
    }


def _rewrite(status: int, body: bytes) -> bytes | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    err = data.get("error")
    if isinstance(err, dict):  # already OpenAI-shaped
        return None
    message = err if isinstance(err, str) else str(data.get("detail") or "error")
    field = data.get("field")
    return json.dumps(error_object(status, message, data.get("code"), field if isinstance(field, str) else None)).encode()


def _no_retry(status: int, body: bytes) -> list[tuple[bytes, bytes]]:
    """``x-should-retry: false`` for a 5xx whose code is in :data:`NOT_RETRYABLE` (4xx other than
    408/409/429 are never retried by the SDKs anyway)."""
    if status < 500:
        return []
    try:
        data = json.loads(body)
    except ValueError:
        return []
    err = data.get("error") if isinstance(data, dict) else None
    code = err.get("code") if isinstance(err, dict) else data.get("code") if isinstance(data, dict) else None
    message = str((err or {}).get("message", "") if isinstance(err, dict) else err or "")
    if code == errors.AgentUnavailableError.code and "not built yet" not in message:
        return [(b"x-should-retry", b"false")]
    return [(b"x-should-retry", b"false")] if code in NOT_RETRYABLE else []


def install(app: Any) -> None:
    """Add the rewrite for ``/v1/`` as the outermost middleware (call after every other one)."""
    from magec.api.user.error_shapes import JsonErrorRewrite

    app.add_middleware(JsonErrorRewrite, prefix=PREFIX, rewrite=_rewrite, headers=_no_retry)
