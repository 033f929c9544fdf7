"""The one error tree of magec.

Every failure the platform reports is one of these types, so the HTTP layer (``magec.api``) can map
errors to status codes in one place and every message passes the secret redactor on its way out::

    MagecError                  internal_error      an unexpected failure                         → 500
    ├── ConfigError             invalid_request     bad input from a user or a config file        → 400
    │   ├── ValidationError     validation_error    a resource field is invalid (names the field) → 400
    │   │   └── BackupKeyMismatchError backup_key_mismatch  a backup made under another encryption key → 400
    │   ├── NotFoundError       not_found           a resource id does not exist                  → 404
    │   │   ├── UnknownModelError unknown_model     /v1: no agent/flow by that name for this client → 404
    │   │   └── ChatModelOnlyError chat_model_only  /v1/completions: agents and flows are chat models → 404
    │   ├── ConflictError       conflict            e.g. delete of a referenced resource          → 409
    │   ├── AuthError           unauthorized        missing / wrong credentials                   → 401
    │   │   └── ForbiddenError  forbidden           authenticated, not allowed                    → 403
    │   ├── RateLimitedError    too_many_requests   too many failed attempts (``retry_after``)    → 429
    │   ├── PayloadTooLargeError payload_too_large  a request body over its limit                 → 413
    │   ├── RequestTimeoutError request_timeout   a request head not sent in time               → 408
    │   ├── BudgetExceededError budget_exceeded   a client's or agent's budget is spent         → 402
    │   └── LoopDetectedError   loop_detected       a request came back to this instance          → 508
    ├── BackendError            backend_error       a provider call failed                        → 502
    │   ├── BackendHTTPError    http_error          provider answered with an error status        → 502
    │   │   ├── BackendAuthError        auth              401 / 403 from the provider         → 502
    │   │   ├── BackendRateLimitError   rate_limit        429 (carries ``retry_after``)       → 429
    │   │   ├── BackendBadRequestError  bad_request       400 / 422                           → 502
    │   │   └── BackendNotFoundError    model_not_found   404 (unknown model, wrong path)     → 502
    │   ├── BackendConnectionError  connection      the provider could not be reached             → 502
    │   │   └── BackendUnavailableError backend_unavailable  circuit breaker open: failed at once (``retry_after``) → 503
    │   ├── BackendTimeoutError     timeout         the provider did not answer in time           → 504
    │   ├── ContentFilteredError    content_filtered  the provider refused for safety reasons     → 502
    │   ├── MalformedResponseError  malformed_response  the provider answered something unparseable → 502
    │   └── UnsupportedRoleError    unsupported_role  the backend type cannot serve that role     → 400
    ├── DatabaseUnavailableError database_unavailable  magec's own database cannot be reached      → 503
    ├── UnavailableError        unavailable         not done this time (not recorded, or stopping): send it again → 503
    └── RunError                run_error           an agent or flow run failed                   → 500
        ├── AgentUnavailableError   agent_unavailable  the agent is invalid (reason given)        → 503
        ├── OverloadedError     overloaded          over a concurrent-turn limit (``retry_after``) → 503
        ├── LlmCallsExceededError llm_calls_exceeded  a turn made more model calls than allowed   → 508
        ├── ToolError           tool_error          a tool failed (its text goes back to the model) → 500
        ├── ClientGoneError     cancelled           the client left before its turn ended (audit) → 499
        └── FlowNodeError       flow_node_error     a graph flow node failed (CEL, template, code) → 500
            ├── FlowRunawayError    flow_runaway    a router fired more than its cap in one run  → 500
            ├── CodeTimeoutError    code_timeout    a code node ran past its time limit           → 500
            ├── CodeMemoryError     code_out_of_memory  a code node's script exhausted its memory  → 500
            └── CodeOutputTooLargeError code_output_too_large  a code node's output over its limit → 500

Each class has one snake_case ``code`` (second column): it is the ``errorCode`` of a failed turn's
event and the ``code`` of every HTTP error body and webhook callback. ``tests/test_errors.py``
pins this drawing to the classes, and every code spelled out elsewhere to one of them. The realtime
voice channel's ``error`` messages speak that protocol's own codes
(:data:`magec.voice.realtime.protocol.ErrorCode`, docs/voice.md). Vendor modules map SDK
exceptions to the most specific type with ``raise ... from e``; no other module interprets vendor
exceptions.
"""

from __future__ import annotations

from typing import Any


class MagecError(Exception):
    """Base of every error magec raises on purpose. ``str(err)`` is safe to show to users."""

    code = "internal_error"
    status_code: int = 500
    #: the ADK name of the agent whose run this error ended (set by magec.agents.lean as it leaves
    #: the innermost agent): a flow's failed turn names that agent
    failed_agent: str | None = None

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ConfigError(MagecError):
    """Bad input: a request body, a resource, a config file."""

    code = "invalid_request"
    status_code = 400


class ValidationError(ConfigError):
    """A resource field is invalid; ``field`` names it (dotted path, e.g. ``llm.backend``)."""

    code = "validation_error"

    def __init__(self, message: str, field: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.field = field


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type with its article, as the client wrote it ("a number")."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else "a string" if isinstance(value, str) else "a non-string"


def require_string(value: Any, field: str, what: str = "") -> str:
    """``value`` when it is a non-empty string; else a :class:`ValidationError` naming ``field``:
    "is required" when absent or empty, "must be a string, got a number" when the client sent
    another type (the client did send one: "is required" would send them looking elsewhere).
    ``what`` says what the string names, e.g. "an agent or flow id or name"."""
    hint = f" ({what})" if what else ""
    if value is None or value == "":
        raise ValidationError(f"{field}: is required{hint}", field=field)
    if not isinstance(value, str):
        raise ValidationError(f"{field}: must be a string{hint}, got {json_type(value)}", field=field)
    return value


class BackupKeyMismatchError(ValidationError):
    """A backup's secrets were encrypted under another ``server.encryptionKey``: nothing restored."""

    code = "backup_key_mismatch"


class NotFoundError(ConfigError):
    code = "not_found"
    status_code = 404


class UnknownModelError(NotFoundError):
    """``/v1``: the ``model`` names no agent or flow this client may use (OpenAI's model_not_found)."""

    code = "unknown_model"
    field = "model"


class ChatModelOnlyError(NotFoundError):
    """``/v1/completions`` (OpenAI's legacy text completions) asked of an agent or flow: they are
    chat models. OpenAI answers a chat model there with this 404; the message says what to use."""

    code = "chat_model_only"
    field = "model"


class ConflictError(ConfigError):
    """The request conflicts with the stored state; ``references`` lists what blocks it."""

    code = "conflict"
    status_code = 409

    def __init__(self, message: str, references: list[dict[str, Any]] | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.references = references or []


class AuthError(ConfigError):
    code = "unauthorized"
    status_code = 401


class ForbiddenError(AuthError):
    code = "forbidden"
    status_code = 403


class RateLimitedError(ConfigError):
    """Too many failed attempts; ``retry_after`` in seconds."""

    code = "too_many_requests"
    status_code = 429

    def __init__(self, message: str, retry_after: int = 60, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class PayloadTooLargeError(ConfigError):
    code = "payload_too_large"
    status_code = 413


class RequestTimeoutError(ConfigError):
    """A client did not send its request head in time (``server.headerTimeout``)."""

    code = "request_timeout"
    status_code = 408


class BudgetExceededError(ConfigError):
    """A client's or agent's budget for the period is spent: the turn is refused before it runs.
    402 (not 429): waiting seconds does not help, so SDKs must not retry it. ``scope`` is
    ``client`` or ``agent``, ``resets_at`` the ISO-8601 UTC start of the next period."""

    code = "budget_exceeded"
    status_code = 402

    def __init__(self, message: str, scope: str = "", resets_at: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.scope = scope
        self.resets_at = resets_at


class LoopDetectedError(ConfigError):
    """A request came back to the magec instance that sent it (see :mod:`magec.hops`)."""

    code = "loop_detected"
    status_code = 508


class DatabaseUnavailableError(MagecError):
    """magec's own database did not answer (``/api/v1/health/ready``: take this replica out of the
    balancer until it does)."""

    code = "database_unavailable"
    status_code = 503


class UnavailableError(MagecError):
    """What a caller sent was not taken or not finished, through no fault of its own, and sending it
    again is the remedy: a webhook run or a Telegram update that could not be written down, a run
    cut by the server stopping or lost with its process, an A2A task whose row could not be read or
    written. Answered 503 with ``Retry-After``, or as ``code`` / ``errorCode`` of a callback or a
    task (docs/clients.md, docs/a2a.md)."""

    code = "unavailable"
    status_code = 503


class BackendError(MagecError):
    """A call to an AI provider failed. ``backend`` names the backend when known."""

    code = "backend_error"
    status_code = 502

    def __init__(self, message: str, backend: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.backend = backend


class BackendHTTPError(BackendError):
    code = "http_error"

    def __init__(
        self, message: str, status: int | None = None, backend: str | None = None, **details: Any
    ) -> None:
        super().__init__(message, backend=backend, **details)
        self.status = status


class BackendAuthError(BackendHTTPError):
    code = "auth"


class BackendRateLimitError(BackendHTTPError):
    """The provider rate-limited the call (and retries did not outlast it): passed on as 429, with
    ``Retry-After`` when the provider said how long to wait."""

    code = "rate_limit"
    status_code = 429

    def __init__(
        self,
        message: str,
        status: int | None = 429,
        backend: str | None = None,
        retry_after: float | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, status=status, backend=backend, **details)
        self.retry_after = retry_after


class BackendBadRequestError(BackendHTTPError):
    code = "bad_request"


class BackendNotFoundError(BackendHTTPError):
    code = "model_not_found"


class BackendConnectionError(BackendError):
    code = "connection"


class BackendUnavailableError(BackendConnectionError):
    """The backend's circuit breaker is open: the call was refused without reaching the provider.

    ``since`` / ``retry_at`` are ISO-8601 UTC timestamps (when it opened, when one probe call will
    be let through); ``retry_after`` the seconds until then (at least 1: sent as ``Retry-After``,
    so a client's retry lands when the breaker lets a call through instead of into the open
    breaker); the message names the backend and the last failure."""

    code = "backend_unavailable"
    status_code = 503

    def __init__(
        self,
        message: str,
        backend: str | None = None,
        since: str | None = None,
        retry_at: str | None = None,
        retry_after: int | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, backend=backend, **details)
        self.since = since
        self.retry_at = retry_at
        self.retry_after = retry_after


class BackendTimeoutError(BackendError):
    code = "timeout"
    status_code = 504


class ContentFilteredError(BackendError):
    code = "content_filtered"


class MalformedResponseError(BackendError):
    code = "malformed_response"


class UnsupportedRoleError(BackendError):
    code = "unsupported_role"
    status_code = 400


class RunError(MagecError):
    """An agent or flow run failed."""

    code = "run_error"
    status_code = 500


class AgentUnavailableError(RunError):
    code = "agent_unavailable"
    status_code = 503


class OverloadedError(RunError):
    """A new turn beyond ``limits.maxRuns`` / ``maxRunsPerBackend`` (:mod:`magec.runtime.admission`):
    refused at once, before anything ran; ``retry_after`` seconds (sent as ``Retry-After``)."""

    code = "overloaded"
    status_code = 503

    def __init__(self, message: str, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class LlmCallsExceededError(RunError):
    """A turn made more model calls than ADK allows one invocation (``RunConfig.max_llm_calls``):
    a loop or a tool-calling agent that does not stop. 508 like any loop the server cut."""

    code = "llm_calls_exceeded"
    status_code = 508


class ClientGoneError(RunError):
    """The client left (hung up, cancelled its request) before its turn ended. Nobody is listening,
    so it is never sent: the conversation audit records it (with what the client was shown) and
    metrics count a 499, nginx's "client closed request"."""

    code = "cancelled"
    status_code = 499


class ToolError(RunError):
    """A tool failed; the message is returned to the model as the tool result."""

    code = "tool_error"


class FlowNodeError(RunError):
    """A graph flow node failed; the message names the node (``node 'score': ...``)."""

    code = "flow_node_error"


class FlowRunawayError(FlowNodeError):
    code = "flow_runaway"


class CodeTimeoutError(FlowNodeError):
    code = "code_timeout"


class CodeMemoryError(FlowNodeError):
    code = "code_out_of_memory"


class CodeOutputTooLargeError(FlowNodeError):
    code = "code_output_too_large"
