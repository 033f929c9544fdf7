"""Authentication: admin password (admin app) and client tokens (user app).

Admin: when ``server.adminPassword`` is set, every ``/api/*`` request on the admin app needs
``Authorization: Bearer <password>`` (constant-time compare). Five failures within a minute from
one client IP give 429 with ``Retry-After`` until the window passes.
"""

from __future__ import annotations

import hmac
import time
from collections import defaultdict, deque

from starlette.requests import Request

from magec.errors import AuthError, RateLimitedError


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def client_ip(request: Request) -> str:
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


class FailureLimiter:
    """Counts failures per key in a sliding window; ``check`` raises 429 when over the limit."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def check(self, key: str) -> None:
        now = time.monotonic()
        q = self._prune(key, now)
        if len(q) >= self.limit:
            retry = max(1, int(self.window - (now - q[0])) + 1)
            raise RateLimitedError(
                "too many failed authentication attempts; try again later", retry_after=retry
            )

    def fail(self, key: str) -> None:
        self._failures[key].append(time.monotonic())

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)


class AdminAuth:
    def __init__(self, password: str) -> None:
        self.password = password
        self.limiter = FailureLimiter()

    @property
    def enabled(self) -> bool:
        return bool(self.password)

    def verify(self, request: Request) -> None:
        if not self.enabled:
            return
        ip = client_ip(request)
        self.limiter.check(ip)
        token = bearer(request)
        if not token or not hmac.compare_digest(token.encode(), self.password.encode()):
            # Only a presented-and-wrong credential counts towards the lockout: a signed-out page
            # load (no Authorization header at all) must not lock the admin out.
            if "authorization" in request.headers:
                self.limiter.fail(ip)
            raise AuthError("admin password required: send Authorization: Bearer <password>")
