"""A streamed HTTP answer whose headers and first chunk leave from the handler's own task.

Why: starlette's ``StreamingResponse`` (on uvicorn, which speaks ASGI 2.3) opens a task group and
starts the body in a task of its own, so the headers and the first chunk wait for that task's
first turn on the event loop — behind whatever else is ready then, which on a turn's stream is the
turn itself (a model that sent its whole answer in one read runs to the end of its call first).
:class:`FirstChunkResponse` sends the headers and the first chunk at once, then streams the rest
as starlette does.

Contract (an ``http`` scope; anything else is starlette's): the body iterator's chunks go out in
order, ``str`` encoded with the response's charset; the iterator's first chunk is awaited before
the headers (a body that fails before its first chunk fails the request, like a handler); after
it, a client that disconnects ends the iteration — the iterator is closed, nothing is raised — and
an exception of the iterator propagates; ``background`` runs once the body is done or the client
gone, as with starlette.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class FirstChunkResponse(StreamingResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        chunks: AsyncIterator[Any] = aiter(self.body_iterator)
        try:
            first: Any = await anext(chunks)
        except StopAsyncIteration:
            first = None
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if first is None:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await send({"type": "http.response.body", "body": self._bytes(first), "more_body": True})
            await self._rest(chunks, receive, send)
        if self.background is not None:
            await self.background()

    def _bytes(self, chunk: Any) -> bytes:
        if isinstance(chunk, bytes):
            return chunk
        return bytes(chunk) if isinstance(chunk, memoryview) else str(chunk).encode(self.charset)

    async def _rest(self, chunks: AsyncIterator[Any], receive: Receive, send: Send) -> None:
        async def stream() -> None:
            try:
                async for chunk in chunks:
                    await send({"type": "http.response.body", "body": self._bytes(chunk), "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                close = getattr(chunks, "aclose", None)
                if close is not None:
                    await close()  # at once, also when cancelled: the turn behind it ends now

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        streaming = asyncio.ensure_future(stream())
        listening = asyncio.ensure_future(disconnected())
        try:
            await asyncio.wait({streaming, listening}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            streaming.cancel()
            listening.cancel()
            await asyncio.wait({streaming, listening})
        if not streaming.cancelled() and streaming.exception() is not None:
            raise streaming.exception()  # type: ignore[misc]
