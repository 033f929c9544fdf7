"""A loopback TCP load balancer for tests: several magec replicas behind one address.

Usage::

    with LoadBalancer([("127.0.0.1", one.port), ("127.0.0.1", two.port)]) as lb:
        httpx.get(f"{lb.url}/api/v1/health")          # each new connection: the next replica
        lb.connections                                # [n, m]: connections sent to each

Contract:

* Layer 4, round robin **per connection**: each accepted connection is piped, both ways, to the
  next backend in turn, so HTTP keep-alive, SSE and WebSockets pass untouched (a client that wants
  every request spread opens a new connection per request, as behind most real balancers).
* A backend that refuses the connection is skipped for that connection (the next one is tried;
  when all refuse, the client's connection is closed): a stopped replica does not fail clients.
  :attr:`refused` counts those skips per backend.
* Runs its own event loop in a daemon thread; :meth:`stop` closes the listener and every piped
  connection. Only for tests and local experiments: no health checks, TLS or PROXY protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Sequence

from magec.testing.services import free_port


class LoadBalancer:
    def __init__(self, backends: Sequence[tuple[str, int]], *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not backends:
            raise ValueError("a load balancer needs at least one backend")
        self.backends = list(backends)
        self.host = host
        self.port = port or free_port()
        #: connections handed to each backend (same order as ``backends``)
        self.connections = [0] * len(self.backends)
        #: connection attempts each backend refused
        self.refused = [0] * len(self.backends)
        self._turn = itertools.cycle(range(len(self.backends)))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LoadBalancer:
        ready = threading.Event()
        failed: list[BaseException] = []

        def main() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                self._server = loop.run_until_complete(asyncio.start_server(self._accept, self.host, self.port))
            except BaseException as e:  # noqa: BLE001 - handed to start()
                failed.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=main, name=f"lb:{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"the load balancer did not start on {self.host}:{self.port} within 10 s")
        if failed:
            raise failed[0]
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._pipes):
                task.cancel()
            await asyncio.gather(*self._pipes, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> LoadBalancer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- piping ------------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            upstream = await self._connect()
            if upstream is None:
                return
            up_reader, up_writer = upstream
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            writer.close()
            self._pipes.discard(task)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.backends)):
            index = next(self._turn)
            host, port = self.backends[index]
            try:
                conn = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
            except (OSError, TimeoutError):
                self.refused[index] += 1
                continue
            self.connections[index] += 1
            return conn
        return None


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close ``dst`` (the other direction may still be talking)."""
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (ConnectionError, OSError):
        dst.close()
