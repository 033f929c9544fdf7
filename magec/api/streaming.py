"""Streamed HTTP answers: the headers and first chunk from the handler's own task, and keep-alive
pings for Server-Sent Events.

Why: starlette's ``StreamingResponse`` (on uvicorn, which speaks ASGI 2.3) opens a task group and
starts the body in a task of its own, so the headers and the first chunk wait for that task's
first turn on the event loop — behind whatever else is ready then, which on a turn's stream is the
turn itself (a model that sent its whole answer in one read runs to the end of its call first).
:class:`FirstChunkResponse` sends the headers and the first chunk at once, then streams the rest
as starlette does. sse-starlette's ``EventSourceResponse`` costs more still: an anyio task group of
four tasks and a cancel scope per send for every response (1.25 against 0.65 ms of CPU for a
3-event answer, this module's :class:`EventStreamResponse`), and it cuts every open stream within
0.5 s of a SIGTERM, where a plain request finishes.

Contract of :class:`FirstChunkResponse` (an ``http`` scope; anything else is starlette's): the body
iterator's chunks go out in order, ``str`` encoded with the response's charset; the iterator's
first chunk is awaited before the headers (a body that fails before its first chunk and before any
ping fails the request, like a handler); after it, a client that disconnects ends the iteration —
the iterator is closed, nothing is raised — and an exception of the iterator propagates;
``background`` runs once the body is done or the client gone, as with starlette. With
``eager_headers`` the headers go out at once and a client hanging up is heard from the start (the
first chunk then leaves from the body's task). With ``ping`` (seconds, an SSE body), a ``: ping``
comment goes out every ``ping`` seconds until the last chunk — and with it the headers, if the
first chunk is that late: a model that thinks for minutes, or a turn in a long tool call, keeps
its connection through proxies that close idle ones (nginx: 60 s). SSE clients skip comment lines
(the openai SDKs do). A server shutting down lets a stream finish like any in-flight request
(uvicorn's graceful timeout bounds it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

#: seconds between keep-alive comments on an event stream (sse-starlette's default; the routes
#: pass ``server.streamPing``)
PING_SECONDS = 15.0
#: the keep-alive comment (SSE clients skip it)
PING = b": ping\n\n"
_PING: Message = {"type": "http.response.body", "body": PING, "more_body": True}


class FirstChunkResponse(StreamingResponse):
    #: seconds between ``: ping`` comments (0: none); an SSE body only
    ping: float = 0.0
    #: send the headers before the first chunk is there (an event stream a client watches)
    eager_headers = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        # Messages that open or close the response go out under the lock, so a ping (which takes
        # it) never precedes the headers nor follows the last chunk; other chunks need no lock:
        # uvicorn writes each message whole, before it awaits anything.
        lock = asyncio.Lock()
        started = False
        is_open = True
        pings: set[asyncio.Task[None]] = set()
        timer: asyncio.TimerHandle | None = None

        async def start() -> None:
            nonlocal started
            if not started:
                started = True
                await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})

        async def ping_once() -> None:
            async with lock:
                if is_open:
                    await start()
                    await send(_PING)

        def due() -> None:
            nonlocal timer
            task = loop.create_task(ping_once())
            pings.add(task)
            task.add_done_callback(pings.discard)
            timer = loop.call_later(self.ping, due)

        async def sending(message: Message) -> None:
            nonlocal is_open
            if message.get("more_body"):
                await send(message)
                return
            async with lock:
                is_open = False
                await send(message)

        if self.ping > 0:
            timer = loop.call_later(self.ping, due)
        try:
            chunks: AsyncIterator[Any] = aiter(self.body_iterator)
            if self.eager_headers:
                # the client watches a started stream: its hanging up is heard from the start
                async with lock:
                    await start()
                await self._rest(chunks, receive, sending)
            else:
                try:
                    first: Any = await anext(chunks)
                except StopAsyncIteration:
                    first = None
                async with lock:
                    await start()
                    if first is None:
                        is_open = False
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                    else:
                        await send({"type": "http.response.body", "body": self._bytes(first), "more_body": True})
                if first is not None:
                    await self._rest(chunks, receive, sending)
        finally:
            is_open = False
            if timer is not None:
                timer.cancel()
            for task in list(pings):
                task.cancel()
            if pings:
                await asyncio.wait(pings)
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


class SseResponse(FirstChunkResponse):
    """A ``text/event-stream`` body of already framed events (``data: …\\n\\n`` bytes), with
    keep-alive pings; the headers wait for the first event or the first ping. The OpenAI-shaped
    streams build it once the turn's first output is there (so a turn that fails first answers with
    its own status), and their pings keep a stream alive through a long tool call after it."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        ping: float = PING_SECONDS,
        headers: dict[str, str] | None = None,
        background: Any = None,
        eager: bool = False,
    ) -> None:
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no", **(headers or {})}
        super().__init__(content, media_type="text/event-stream", background=background, headers=headers)
        self.ping = ping
        self.eager_headers = eager


class EventStreamResponse(SseResponse):
    """Server-Sent Events from an iterator of ``data`` strings, one event each (a string with line
    breaks, one ``data:`` line per line, as the SSE format requires); the headers go out at once (an
    ADK client shows the turn as started)."""

    def __init__(self, events: AsyncIterator[str], *, ping: float = PING_SECONDS, background: Any = None) -> None:
        super().__init__(_framed(events), ping=ping, background=background, eager=True)


async def _framed(events: AsyncIterator[str]) -> AsyncIterator[bytes]:
    try:
        async for data in events:
            if "\n" in data or "\r" in data:
                data = "\ndata: ".join(data.splitlines())
            yield f"data: {data}\n\n".encode()
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()  # closing the frame closes the events (and the turn behind them) at once
