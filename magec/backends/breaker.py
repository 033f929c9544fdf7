"""Circuit breaker per backend, shared by every agent on it (vendor-neutral).

Contract of :class:`Breaker`:

* **closed** — calls go through. A failure that is the backend's fault (:func:`is_backend_fault`:
  connection errors, timeouts, 5xx, 429, a broken answer) adds 1 to ``failures``; any success
  resets it. ``threshold`` consecutive faults open the breaker.
* **open** — also entered at once when the live health check (:mod:`magec.backends.health`) finds
  the backend unreachable (:meth:`Breaker.trip`). Calls fail at once with :class:`~magec.errors.BackendUnavailableError` ("backend X is
  down since …: <last error>") without reaching the provider, until ``retry_at`` (opened +
  ``cooldown`` seconds); the error's ``retry_after`` is the seconds left until then, which clients
  get as ``Retry-After``.
* **half-open** — after the cool-down exactly one call (the probe) is let through; others still
  fail at once. Its success closes the breaker; a fault re-opens it for another cool-down. A
  caller error (4xx such as auth, bad request, unknown model) proves the provider answers and
  closes it too, without counting as a fault.

:class:`Breakers` holds one breaker per backend id for a process (the composition root owns it)
and wraps chat models with :class:`GuardedLlm` so every agent's calls pass the breaker. The
breaker sits outside the vendor adapters, so a call retried inside them counts once.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.adk.models import BaseLlm, LlmCapabilities, LlmRequest, LlmResponse
from pydantic import PrivateAttr

from magec.backends.parked import unpark
from magec.errors import (
    BackendConnectionError,
    BackendHTTPError,
    BackendRateLimitError,
    BackendTimeoutError,
    BackendUnavailableError,
    MalformedResponseError,
)
from magec.redact import redact

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


def is_backend_fault(exc: BaseException) -> bool:
    """True when ``exc`` says the backend is unwell (not that the caller asked something wrong)."""
    if isinstance(exc, BackendUnavailableError):
        return False
    if isinstance(exc, BackendConnectionError | BackendTimeoutError | BackendRateLimitError):
        return True
    if isinstance(exc, MalformedResponseError):
        return True
    if isinstance(exc, BackendHTTPError):
        return exc.status is None or exc.status >= 500
    return False


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def said_when(at: float | str | None) -> str:
    """A moment as people read it in a message ("2026-12-04 21:10:10 UTC"), from epoch seconds or
    an ISO-8601 string; the structured fields beside a message keep the full ISO value. An
    unparsable string is returned as is."""
    if at is None:
        return "?"
    try:
        moment = datetime.fromtimestamp(at, UTC) if isinstance(at, (int, float)) else datetime.fromisoformat(at)
    except ValueError:
        return str(at)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class Breaker:
    """The breaker of one backend (``label`` is its name, used in messages). Not thread-safe:
    used from the event loop only."""

    backend_id: str
    label: str
    threshold: int = 5
    cooldown: float = 30.0
    state: str = CLOSED
    failures: int = 0
    opened_at: float | None = None
    retry_at: float | None = None
    last_error: str | None = None
    probing: bool = False
    #: opened by the health check (:meth:`trip`), so a later successful check may close it again
    tripped: bool = False
    #: this process's last health check found the backend down, for any reason (a rejected key
    #: too, which is no backend fault): then a real call's success is telling and re-checks it
    checked_down: bool = False
    clock: Any = field(default=time.time, repr=False)

    def before_call(self) -> None:
        """Let a call through, or raise :class:`BackendUnavailableError` at once."""
        if self.state == CLOSED:
            return
        now = self.clock()
        if self.state == OPEN and self.retry_at is not None and now >= self.retry_at:
            self.state = HALF_OPEN
        if self.state == HALF_OPEN and not self.probing:
            self.probing = True
            return
        raise BackendUnavailableError(
            redact(
                f"backend {self.label} is down since {said_when(self.opened_at)}"
                f" (circuit open, next try at {said_when(self.retry_at)}): {self.last_error or 'repeated failures'}"
            ),
            backend=self.label,
            since=_iso(self.opened_at),
            retry_at=_iso(self.retry_at),
            # a half-open breaker whose probe is out has no set time: a second is a fair guess
            retry_after=max(1, math.ceil((self.retry_at or now) - now)),
        )

    def success(self) -> None:
        self.state, self.failures, self.probing, self.tripped = CLOSED, 0, False, False
        self.opened_at = self.retry_at = None

    def failure(self, exc: BaseException) -> None:
        """Record a failed call; only backend faults count (a caller error counts as an answer)."""
        if not is_backend_fault(exc):
            if not isinstance(exc, BackendUnavailableError):
                self.success()
            return
        self.probing = False
        self.failures += 1
        self.last_error = redact(str(exc))[:500]
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            now = self.clock()
            if self.state == CLOSED or self.opened_at is None:
                self.opened_at = now  # a failed half-open probe keeps the original "down since"
            self.state = OPEN
            self.retry_at = now + self.cooldown

    def trip(self, exc: BaseException) -> None:
        """The health check found the backend unreachable (a backend fault): open now, so agents
        answer at once instead of waiting for ``threshold`` calls to time out. No-op otherwise."""
        if not is_backend_fault(exc) or self.state == OPEN:
            return
        self.failures = max(self.failures, self.threshold - 1)
        self.failure(exc)
        self.tripped = self.state == OPEN

    def reset(self) -> None:
        """The backend's connection fields changed: what the old ones showed no longer applies."""
        self.success()
        self.last_error = None

    def abandon(self) -> None:
        """The call ended without an outcome (client gone): free the half-open probe slot."""
        self.probing = False

    def to_json(self) -> dict[str, Any]:
        """The Admin API shape: ``{state, failures, openedAt, retryAt, lastError}``."""
        state = self.state
        if state == OPEN and self.retry_at is not None and self.clock() >= self.retry_at:
            state = HALF_OPEN  # the next call will be the probe
        return {
            "state": state,
            "failures": self.failures,
            "openedAt": _iso(self.opened_at),
            "retryAt": _iso(self.retry_at),
            "lastError": self.last_error,
        }


CLOSED_VIEW: dict[str, Any] = {"state": CLOSED, "failures": 0, "openedAt": None, "retryAt": None, "lastError": None}


class Breakers:
    """One :class:`Breaker` per backend id, for one process; thresholds from the server config."""

    def __init__(self, threshold: int = 5, cooldown: float = 30.0) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = max(0.0, cooldown)
        self._by_id: dict[str, Breaker] = {}
        #: called with a backend id when a real call fails for the backend's fault, or succeeds
        #: after failures (the live health check re-checks it then: :mod:`magec.backends.health`)
        self._watchers: list[Any] = []

    def watch(self, fn: Any) -> Any:
        """Call ``fn(backend_id)`` on real calls' telling outcomes; returns an unwatch function."""
        self._watchers.append(fn)
        return lambda: self._watchers.remove(fn) if fn in self._watchers else None

    def outcome(self, backend_id: str) -> None:
        for fn in list(self._watchers):
            try:
                fn(backend_id)
            except Exception:  # noqa: BLE001, S110 - a watcher must never break a call
                pass

    def get(self, backend_id: str, label: str | None = None) -> Breaker:
        b = self._by_id.get(backend_id)
        if b is None:
            b = self._by_id[backend_id] = Breaker(
                backend_id, label or backend_id, threshold=self.threshold, cooldown=self.cooldown
            )
        elif label:
            b.label = label
        return b

    def peek(self, backend_id: str) -> Breaker | None:
        return self._by_id.get(backend_id)

    def view(self, backend_id: str) -> dict[str, Any]:
        b = self._by_id.get(backend_id)
        return b.to_json() if b is not None else dict(CLOSED_VIEW)

    def guard(self, model: BaseLlm, backend_id: str, label: str | None = None) -> BaseLlm:
        """``model`` behind this backend's breaker (a build hook sets this as ``BuildDeps.guard``)."""
        return GuardedLlm(model, self.get(backend_id, label), self)


class GuardedLlm(BaseLlm):
    """A chat model behind a :class:`Breaker`: refused at once while open, outcomes recorded.

    Everything else (``model``, ``capabilities``, ``connection``) is the wrapped model's."""

    _inner: BaseLlm = PrivateAttr()
    _breaker: Breaker = PrivateAttr()
    _owner: Breakers | None = PrivateAttr(default=None)

    def __init__(self, inner: BaseLlm, breaker: Breaker, owner: Breakers | None = None) -> None:
        super().__init__(model=inner.model)
        self._inner = inner
        self._breaker = breaker
        self._owner = owner

    @property
    def inner(self) -> BaseLlm:
        return self._inner

    @property
    def connection(self) -> Any:
        return getattr(self._inner, "connection", None)

    @property
    def capabilities(self) -> LlmCapabilities:
        return self._inner.capabilities

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        unpark(llm_request)  # whole again before any vendor sees it (magec.backends.parked)
        breaker = self._breaker
        breaker.before_call()
        done = False
        try:
            async for response in self._inner.generate_content_async(llm_request, stream=stream):
                yield response
        except Exception as e:
            done = True
            breaker.failure(e)
            if self._owner is not None and is_backend_fault(e):
                self._owner.outcome(breaker.backend_id)
            raise
        else:
            done = True
            troubled = breaker.state != CLOSED or breaker.failures > 0 or breaker.checked_down
            breaker.success()
            if self._owner is not None and troubled:
                self._owner.outcome(breaker.backend_id)
        finally:
            if not done:
                breaker.abandon()
