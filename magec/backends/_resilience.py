"""Deadlines and retries of one chat call, the same for every vendor.

Every vendor's ``generate_content_async`` runs its SDK call as an *attempt* (an async generator of
``LlmResponse``) through :func:`resilient`, which applies the backend's policy:

* **Deadlines.** ``connect_timeout`` and ``timeout`` (the read deadline: the longest wait for the
  next byte, response headers included) are set on the vendor's HTTP client, so a provider that
  hangs before or after its headers, or stalls mid-stream, fails that attempt with
  :class:`~magec.errors.BackendTimeoutError`. ``total_timeout`` bounds the whole call here: every
  attempt, every backoff and the full stream. A provider that drips a byte within every read
  deadline is cut at the total deadline, also as ``BackendTimeoutError`` (code ``timeout``).
* **Retries** happen only while nothing of the call has been yielded (so nothing reached the
  client): a 429 (after its ``Retry-After`` when given and at most :data:`MAX_RETRY_AFTER`), a
  transient 5xx (not 501, 505–508, 510, 511), a connection failure, a timeout. Never after
  output, never for a 4xx that is the caller's (auth, bad request, unknown model), a refusal or a
  malformed answer. At most
  ``max_attempts`` calls; a wait that would pass the total deadline is not taken. Between attempts
  the wait is jittered exponential backoff (:func:`backoff`). When retries are exhausted the last
  error is raised as is: a 429 keeps its ``retry_after`` so callers can pass it on.

SDK-level retries are off in every connection (``max_retries=0``, google-genai ``attempts=1``), so
this is the one retry policy.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TypeVar

from magec.backends import relay
from magec.backends.base import BackendSpec
from magec.errors import (
    BackendConnectionError,
    BackendError,
    BackendHTTPError,
    BackendRateLimitError,
    BackendTimeoutError,
)
from magec.redact import redact

log = logging.getLogger("magec.backends")

T = TypeVar("T")

#: the longest ``Retry-After`` waited for; a longer one is passed on to the client at once
MAX_RETRY_AFTER = 30.0
#: first backoff (seconds), doubled per attempt up to :data:`BACKOFF_CAP`, then jittered
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0


#: 5xx answers that say the same call will fail again (not implemented, HTTP version, storage,
#: loop detected — e.g. magec's own loop guard —, network authentication)
_PERMANENT_5XX = frozenset({501, 505, 506, 507, 508, 510, 511})


@dataclass(frozen=True)
class Policy:
    """The deadlines and retry budget of one backend's chat calls (from its :class:`BackendSpec`)."""

    label: str
    total: float
    max_attempts: int

    @classmethod
    def of(cls, spec: BackendSpec, label: str) -> Policy:
        return cls(label=label, total=spec.total_timeout, max_attempts=max(1, spec.max_attempts))


def retryable(err: BackendError) -> bool:
    """Whether a call that failed with ``err`` *before any output* may be made again."""
    if isinstance(err, BackendRateLimitError | BackendTimeoutError):
        return True
    if type(err) is BackendConnectionError:  # not subclasses (e.g. a circuit breaker's refusal)
        return True
    if type(err) is BackendHTTPError:  # not its 4xx subclasses (auth, bad request, not found)
        status = err.status or 0
        return status >= 500 and status not in _PERMANENT_5XX
    return False


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): 0.5, 1, 2, … capped at
    8 s, each times a random factor in [0.5, 1) so that callers failing together spread out."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _wait_for(err: BackendError, attempt: int) -> float | None:
    """The wait before the next attempt, or ``None`` when the error says not to retry soon."""
    if isinstance(err, BackendRateLimitError) and err.retry_after is not None:
        return err.retry_after if err.retry_after <= MAX_RETRY_AFTER else None
    return backoff(attempt)


async def resilient(
    policy: Policy, attempt: Callable[[], AsyncGenerator[T, None]]
) -> AsyncGenerator[T, None]:
    """Yield what ``attempt()`` yields, under the total deadline, retrying as the module describes.

    ``attempt`` must raise only :class:`~magec.errors.BackendError` for provider failures (the
    vendors' ``mapped`` block does that). Raises the final error; the total deadline raises
    :class:`~magec.errors.BackendTimeoutError`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.total
    tries = 0
    while True:
        tries += 1
        produced = False
        sink = relay.current()  # text relayed to the client is output too: never retried after it
        relayed = sink.pushed if sink is not None else 0
        agen = attempt()
        try:
            while True:
                scope = asyncio.timeout_at(deadline)
                try:
                    async with scope:
                        item = await agen.__anext__()
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    if not scope.expired():
                        raise
                    raise BackendTimeoutError(
                        redact(
                            f"{policy.label}: no complete answer within the total deadline of {policy.total:g} s"
                        ),
                        backend=policy.label,
                    ) from None
                produced = True
                yield item
        except BackendError as err:
            produced = produced or (sink is not None and sink.pushed != relayed)
            if produced or tries >= policy.max_attempts or loop.time() >= deadline or not retryable(err):
                raise
            wait = _wait_for(err, tries)
            if wait is None or loop.time() + wait >= deadline:
                raise
            log.info(
                "%s: attempt %d of %d failed (%s: %s); retrying in %.2f s",
                policy.label,
                tries,
                policy.max_attempts,
                err.code,
                err.message,
                wait,
            )
            await asyncio.sleep(wait)
        finally:
            await agen.aclose()


async def resilient_call(policy: Policy, call: Callable[[], Awaitable[T]]) -> T:
    """One non-streamed call (embeddings, transcription) under the same deadlines and retries."""

    async def attempt() -> AsyncGenerator[T, None]:
        yield await call()

    async with aclosing(resilient(policy, attempt)) as results:
        async for result in results:
            return result
    raise AssertionError("unreachable: an attempt yields once or raises")
