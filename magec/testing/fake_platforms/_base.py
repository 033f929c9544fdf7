"""The machinery every fake platform shares: an aiohttp server on ``127.0.0.1:<free port>`` in a
daemon thread with its own event loop, a record of what the bot sent, and waiting for it.

Tests may be sync or async and the bot may run in the test's loop or in a ``magec serve``
subprocess, so the fake never shares a loop with anyone: helpers that change server state hop onto
the fake's loop (:meth:`PlatformServer.call`), and :meth:`PlatformServer.wait_for` blocks on a
condition variable (``await fake.await_for(...)`` runs it in a worker thread, so the caller's loop
keeps serving the bot meanwhile).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from aiohttp import BodyPartReader, web

T = TypeVar("T")


@dataclass
class Sent:
    """One thing the bot did on the platform (a message, a voice note, an upload, an ack…)."""

    kind: str  # e.g. "sendMessage", "sendVoice", "chat.postMessage", "message", "upload"
    target: str  # chat / channel id as a string
    data: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    """multipart files: field name -> (filename, content type, content)"""

    @property
    def text(self) -> str:
        for key in ("text", "content", "caption"):
            value = self.data.get(key)
            if isinstance(value, str):
                return value
        return ""


class PlatformServer:
    """Base of the fakes: subclasses add routes in :meth:`routes`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        ready = threading.Event()
        errors: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # surfaced to start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=main, name=f"fake-{type(self).__name__}", daemon=True)
        self._thread.start()
        ready.wait(20)
        if errors:
            raise errors[0]
        return self

    async def _serve(self) -> None:
        @web.middleware
        async def record(request: web.Request, handler: Callable[..., Any]) -> Any:
            with self._cond:
                self.calls.append((request.method, request.path))
            return await handler(request)

        app = web.Application(middlewares=[record], client_max_size=64 * 1024 * 1024)
        self.routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _shutdown(self) -> None:
        await self.close_connections()
        if self._runner is not None:
            await self._runner.cleanup()

    async def close_connections(self) -> None:
        """Close long-lived connections (WebSockets, long polls); subclasses extend."""

    def stop(self) -> None:
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- cross-thread helpers ----------------------------------------------------------------
    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` on the fake's loop and return its result (from any thread)."""
        assert self.loop is not None, "fake not started"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def record(self, sent: Sent) -> Sent:
        with self._cond:
            self.sent.append(sent)
            self._cond.notify_all()
        return sent

    def notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self.sent.clear()
            self.calls.clear()

    def sent_to(self, target: str | int, kind: str | None = None) -> list[Sent]:
        with self._cond:
            return [s for s in self.sent if s.target == str(target) and (kind is None or s.kind == kind)]

    def wait_for(self, predicate: Callable[[list[Sent]], T | None], timeout: float = 20.0) -> T:
        """Block until ``predicate(self.sent)`` is truthy and return its value (AssertionError on timeout).

        A predicate may look at any state of the fake (``webhook``, ``connected``, ``heartbeats``...),
        not only at what was sent (which notifies): it is checked again at least every 50 ms. Waiting
        for a notification alone, a ``webhook is not None`` that came true at once was seen only at
        the timeout (20 s later)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(list(self.sent))
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; the bot sent: {[(s.kind, s.target, s.text) for s in self.sent]}")
                self._cond.wait(min(left, 0.05))

    async def await_for(self, predicate: Callable[[list[Sent]], T | None], timeout: float = 20.0) -> T:
        return await asyncio.to_thread(self.wait_for, predicate, timeout)

    def wait_sent(self, target: str | int, kind: str | None = None, count: int = 1, timeout: float = 20.0) -> list[Sent]:
        """The first ``count`` things sent to ``target`` (of ``kind``), waiting for them."""

        def pred(sent: list[Sent]) -> list[Sent] | None:
            hits = [s for s in sent if s.target == str(target) and (kind is None or s.kind == kind)]
            return hits[:count] if len(hits) >= count else None

        return self.wait_for(pred, timeout)

    async def await_sent(self, target: str | int, kind: str | None = None, count: int = 1,
                         timeout: float = 20.0) -> list[Sent]:
        return await asyncio.to_thread(self.wait_sent, target, kind, count, timeout)


async def read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, str, bytes]]]:
    """Query, JSON, urlencoded or multipart parameters (values as sent) and multipart files."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, tuple[str, str, bytes]] = {}
    ctype = request.content_type
    if request.method in ("POST", "PUT", "PATCH") and request.can_read_body:
        if ctype == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif ctype.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                name = part.name or ""
                data = await part.read(decode=False)
                if part.filename:
                    files[name] = (part.filename, part.headers.get("Content-Type", ""), bytes(data))
                else:
                    params[name] = bytes(data).decode()
        else:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params, files


def maybe_json(value: Any) -> Any:
    """Form fields carry JSON-encoded values (ids, arrays, objects); decode when they parse."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
