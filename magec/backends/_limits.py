"""A cap on the size of one provider answer, for every vendor's HTTP client.

A provider (or whatever answers at its URL: a proxy, a misrouted file server) can send an answer of
any size; the SDKs would read it all into memory. Every vendor client gets :func:`event_hooks`, whose
response hook refuses an answer whose ``Content-Length`` is over the backend's
``max_response_bytes`` before reading it, and wraps the body so that reading past the limit (a
chunked or streamed answer) fails. Either way the call ends with
:class:`~magec.errors.MalformedResponseError` (code ``malformed_response``): not retried (the same
call would get the same answer) and, with a fallback chain, answered by the next link.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2

from magec.backends.base import BackendSpec
from magec.errors import MalformedResponseError


def too_large(label: str, limit: int) -> MalformedResponseError:
    return MalformedResponseError(
        f"{label}: the answer is larger than {limit} bytes (the backend's maxResponseBytes)", backend=label
    )


class _Capped(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, limit: int, label: str) -> None:
        self._inner = inner
        self._limit = limit
        self._label = label

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise too_large(self._label, self._limit)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def event_hooks(spec: BackendSpec, label: str) -> dict[str, list[Any]]:
    """httpx event hooks enforcing ``spec.max_response_bytes`` on every response."""
    limit = spec.max_response_bytes

    async def cap(response: httpx2.Response) -> None:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await response.aclose()
            raise too_large(label, limit)
        response.stream = _Capped(response.stream, limit, label)

    return {"response": [cap]}
