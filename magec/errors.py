"""The one error tree of magec.

Every failure the platform reports is one of these types, so the HTTP layer (``magec.api``) can map
errors to status codes in one place and every message passes the secret redactor on its way out::

    MagecError
    ├── ConfigError                 bad input from a user or a config file        → 400
    │   ├── ValidationError         a resource field is invalid (names the field) → 400
    │   ├── NotFoundError           a resource id does not exist                 → 404
    │   ├── ConflictError           e.g. delete of a referenced resource          → 409
    │   ├── AuthError               missing / wrong credentials                  → 401 / 403
    │   ├── PayloadTooLargeError    a request body over its limit                 → 413
    │   └── LoopDetectedError       a request came back to this instance          → 508
    ├── BackendError                a provider call failed                        → 502
    │   ├── BackendHTTPError        provider answered with an error status
    │   │   ├── BackendAuthError        401 / 403 from the provider
    │   │   ├── BackendRateLimitError   429 (carries ``retry_after`` seconds)
    │   │   ├── BackendBadRequestError  400 / 422
    │   │   └── BackendNotFoundError    404 (unknown model, wrong path)
    │   ├── BackendConnectionError  the provider could not be reached
    │   ├── BackendTimeoutError     the provider did not answer in time           → 504
    │   ├── ContentFilteredError    the provider refused for safety reasons
    │   ├── MalformedResponseError  the provider answered something unparseable
    │   └── UnsupportedRoleError    the backend type cannot serve that role       → 400
    └── RunError                    an agent or flow run failed
        ├── AgentUnavailableError   the agent is invalid (reason given)           → 503
        └── ToolError               a tool failed (its text goes back to the model)

Vendor modules map SDK exceptions to the most specific type with ``raise ... from e``; no
other module interprets vendor exceptions.
"""

from __future__ import annotations

from typing import Any


class MagecError(Exception):
    """Base of every error magec raises on purpose. ``str(err)`` is safe to show to users."""

    status_code: int = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ConfigError(MagecError):
    """Bad input: a request body, a resource, a config file."""

    status_code = 400


class ValidationError(ConfigError):
    """A resource field is invalid; ``field`` names it (dotted path, e.g. ``llm.backend``)."""

    def __init__(self, message: str, field: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.field = field


class NotFoundError(ConfigError):
    status_code = 404


class ConflictError(ConfigError):
    """The request conflicts with the stored state; ``references`` lists what blocks it."""

    status_code = 409

    def __init__(self, message: str, references: list[dict[str, Any]] | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.references = references or []


class AuthError(ConfigError):
    status_code = 401


class ForbiddenError(AuthError):
    status_code = 403


class RateLimitedError(ConfigError):
    """Too many failed attempts; ``retry_after`` in seconds."""

    status_code = 429

    def __init__(self, message: str, retry_after: int = 60, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class PayloadTooLargeError(ConfigError):
    status_code = 413


class LoopDetectedError(ConfigError):
    """A request came back to the magec instance that sent it (see :mod:`magec.hops`)."""

    status_code = 508


class BackendError(MagecError):
    """A call to an AI provider failed. ``backend`` names the backend when known."""

    status_code = 502
    kind = "backend_error"

    def __init__(self, message: str, backend: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.backend = backend


class BackendHTTPError(BackendError):
    kind = "http_error"

    def __init__(
        self, message: str, status: int | None = None, backend: str | None = None, **details: Any
    ) -> None:
        super().__init__(message, backend=backend, **details)
        self.status = status


class BackendAuthError(BackendHTTPError):
    kind = "auth"


class BackendRateLimitError(BackendHTTPError):
    kind = "rate_limit"

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
    kind = "bad_request"


class BackendNotFoundError(BackendHTTPError):
    kind = "not_found"


class BackendConnectionError(BackendError):
    kind = "connection"


class BackendTimeoutError(BackendError):
    status_code = 504
    kind = "timeout"


class ContentFilteredError(BackendError):
    kind = "content_filtered"


class MalformedResponseError(BackendError):
    kind = "malformed_response"


class UnsupportedRoleError(BackendError):
    status_code = 400
    kind = "unsupported_role"


class RunError(MagecError):
    """An agent or flow run failed."""

    status_code = 500


class AgentUnavailableError(RunError):
    status_code = 503


class ToolError(RunError):
    """A tool failed; the message is returned to the model as the tool result."""
