"""Limits of every vendor's HTTP client: the size of one answer, and the connection pool's size.

**Pool size** (:func:`pool_limits`): an admitted turn holds at most one connection to a backend at
a time (a stream keeps it to its last byte), and admission bounds how many turns use one backend
(``limits.maxRunsPerBackend``, else ``limits.maxRuns``; :mod:`magec.runtime.admission`). The
composition root calls :func:`size_pools` with those limits before any client is built; each
client then allows that many connections plus :data:`POOL_RESERVE` (fallback chains, health
probes, a flow's parallel branches), so an admitted turn never waits for a pool slot, and a turn
beyond the limits is refused by admission (429/503 with ``Retry-After``) before it asks for one.

**Answer size**:
A provider (or whatever answers at its URL: a proxy, a misrouted file server) can send an answer of
any size; the SDKs would read it all into memory. Every vendor client gets :func:`event_hooks`, whose
response hook refuses an answer whose ``Content-Length`` is over the backend's
``max_response_bytes`` before reading it, and wraps the body so that reading past the limit (a
chunked or streamed answer) fails. Either way the call ends with
:class:`~magec.errors.MalformedResponseError` (code ``malformed_response``): not retried (the same
call would get the same answer) and, with a fallback chain, answered by the next link.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2

from magec.backends.base import BackendSpec
from magec.errors import MalformedResponseError

#: connections beyond one per admitted turn (see the module docstring)
POOL_RESERVE = 32
#: idle connections kept open per client (a burst's extra connections are closed when idle)
KEEPALIVE = 100
_pool = {"connections": 1024 + POOL_RESERVE}


def size_pools(max_runs: int, per_backend: int = 0) -> None:
    """Size the pools of clients built from now on: ``per_backend`` (``limits.maxRunsPerBackend``)
    when set, else ``max_runs`` (``limits.maxRuns``), plus :data:`POOL_RESERVE`; with neither
    limit, the SDKs' own 1,000."""
    runs = min(x for x in (per_backend, max_runs) if x > 0) if (per_backend > 0 or max_runs > 0) else 0
    _pool["connections"] = runs + POOL_RESERVE if runs else 1000


def pool_limits() -> httpx2.Limits:
    """The connection limits of a new vendor HTTP client (:func:`size_pools`)."""
    n = _pool["connections"]
    return httpx2.Limits(max_connections=n, max_keepalive_connections=min(n, KEEPALIVE), keepalive_expiry=5.0)


def too_large(label: str, limit: int) -> MalformedResponseError:
    return MalformedResponseError(
        f"{label}: the answer is larger than {limit} bytes (the backend's maxResponseBytes)", backend=label
    )


class _Capped(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, limit: int, error: Callable[[], Exception]) -> None:
        self._inner = inner
        self._limit = limit
        self._error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise self._error()
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def event_hooks(spec: BackendSpec, label: str) -> dict[str, list[Any]]:
    """httpx event hooks enforcing ``spec.max_response_bytes`` on every response."""
    limit = spec.max_response_bytes

    async def cap(response: httpx2.Response) -> None:
        await cap_response(response, limit, lambda: too_large(label, limit))

    return {"response": [cap]}


async def cap_response(response: httpx2.Response, limit: int, error: Callable[[], Exception]) -> None:
    """From a response hook: ``error()`` is raised for a declared ``Content-Length`` over ``limit``
    (nothing read), and by the body's read the moment it passes ``limit``."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        await response.aclose()
        raise error()
    response.stream = _Capped(response.stream, limit, error)
