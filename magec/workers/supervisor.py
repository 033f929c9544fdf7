"""``magec serve --workers N``: N processes serving the same ports, one parent keeping them alive.

Contract:

* **The parent** (:func:`run`) prepares the database once (migrations, the config row, the
  encryption key: :func:`magec.server.prepare`), binds the listening sockets,
  starts N workers (``multiprocessing`` *spawn*: fresh interpreters, nothing inherited but the
  sockets) and then only supervises: a worker that exits unexpectedly is started again in its slot
  (same index, same sockets; backoff when it keeps failing at once, and the parent gives up —
  exit 1 — after :data:`MAX_QUICK_FAILURES` failures in a row that each lived under
  :data:`QUICK_FAILURE` seconds). SIGTERM/SIGINT to the parent sends SIGTERM to every worker, waits
  for them (each finishes its in-flight requests, uvicorn's 10 s grace) and exits 0; a worker still
  running after :data:`STOP_TIMEOUT` is killed. A worker whose parent dies gets SIGTERM
  (``PR_SET_PDEATHSIG``), so no orphan keeps serving the port.
* **Sockets.** The user and admin ports get one ``SO_REUSEPORT`` socket *per worker slot*, all
  bound by the parent: the kernel spreads new connections evenly across the slots (one shared
  socket lets whichever worker wakes first drain the whole accept queue), and because the parent
  keeps every socket open, connections queued on the slot of a worker being restarted wait for its
  successor instead of being reset. The admin MCP server (stateful MCP sessions) runs in worker 0
  only, on a socket of its own.
* **A worker is a replica** (:func:`magec.server.serve` with its :class:`WorkerSlot`): its own
  event loop, store engine, runtime and caches over the shared database. What replicas already
  share makes workers correct: sessions (revision-checked appends, the per-session event cache
  re-reads what another process appended), bots and cron (database leases and slot claims), the
  audit (create-or-get conversations). On SQLite the config epoch is followed through the
  :class:`~magec.store.epochs.EpochBoard` (a write answered by one worker is seen by the next request
  on any worker); on PostgreSQL by ``LISTEN/NOTIFY`` plus the per-request epoch read, as for replicas.
  Per-host periodic jobs run in worker 0 only (the audit's retention prune); ``/metrics`` answers
  every worker's samples (:mod:`magec.workers.metrics`); responses carry
  ``X-Magec-Worker: <index>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from magec.config import Config, listen_address

if TYPE_CHECKING:
    from fastapi import FastAPI

    from magec.context import AppContext
    from magec.workers.metrics import WorkerMetrics

log = logging.getLogger("magec.workers")

#: seconds the parent waits for workers to stop after SIGTERM before killing them
STOP_TIMEOUT = 30.0
#: a worker that dies within this many seconds of its start counts as failing at once
QUICK_FAILURE = 10.0
#: consecutive quick failures of one slot after which the parent stops everything (exit 1)
MAX_QUICK_FAILURES = 5
HEADER = "x-magec-worker"
Serve = Callable[[Config, "WorkerSlot"], Coroutine[Any, Any, None]]
Prepare = Callable[[Config], Coroutine[Any, Any, None]]


@dataclass
class WorkerSlot:
    """What one worker process is handed (pickled to the spawned child; sockets travel as fds)."""

    index: int
    count: int
    user: socket.socket
    admin: socket.socket
    mcp: socket.socket | None
    #: the parent's private directory (0700) for the workers' metrics sockets
    run_dir: str

    @property
    def primary(self) -> bool:
        """Worker 0 runs what must run once per host (the admin MCP server, periodic prunes)."""
        return self.index == 0

    def install(self, ctx: AppContext, apps: tuple[FastAPI, ...]) -> WorkerMetrics:
        """Wire this worker into its apps: the worker header and the all-workers ``/metrics``.
        Returns the :class:`WorkerMetrics` to start (``await .start()``) and close."""
        from magec.context import refresh_gauges
        from magec.workers.metrics import WorkerMetrics

        metrics = WorkerMetrics(ctx.metrics.registry, lambda: refresh_gauges(ctx), self.run_dir, self.index, self.count)
        ctx.metrics.exposition = metrics.exposition
        ctx.extras["worker"] = self
        value = str(self.index).encode()
        for app in apps:
            app.add_middleware(_WorkerHeader, value=value)
        return metrics


class _WorkerHeader:
    """Adds ``X-Magec-Worker`` to every HTTP response (which process answered: for operators and
    tests; the index only, never the pid)."""

    def __init__(self, app: Any, value: bytes) -> None:
        self.app = app
        self.value = value

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER.encode(), self.value)]
            await send(message)

        await self.app(scope, receive, send_with_header)


# -- sockets -----------------------------------------------------------------------------------
def _listen(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family, kind, proto, _name, addr = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        sock.listen(2048)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_group(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` ``SO_REUSEPORT`` sockets on one address (port 0: the first one's port)."""
    first = _listen(host, port, reuse_port=True)
    socks = [first]
    try:
        port = int(first.getsockname()[1])
        socks += [_listen(host, port, reuse_port=True) for _ in range(count - 1)]
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


# -- the worker process ------------------------------------------------------------------------
def _die_with_parent() -> None:
    """SIGTERM this process when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def _worker_main(serve: Serve, config: Config, slot: WorkerSlot, parent: int) -> None:
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        return
    from magec.logs import setup_logging

    setup_logging(config.log_level, config.log_format)
    from magec.heap import before_exit
    from magec.loop import run as run_loop

    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(config, slot))
    before_exit()


# -- the parent --------------------------------------------------------------------------------
class _Supervisor:
    def __init__(self, config: Config, count: int, serve: Serve, prepare: Prepare) -> None:
        self.config = config
        self.count = count
        self.serve = serve
        self.prepare = prepare
        self.stopping = False
        self.procs: dict[int, BaseProcess] = {}
        self.started: dict[int, float] = {}
        self.quick: dict[int, int] = dict.fromkeys(range(count), 0)
        self.restart_at: dict[int, float] = {}
        self.mp = multiprocessing.get_context("spawn")

    def run(self) -> int:
        config = self.config
        asyncio.run(self.prepare(config))
        admin_host = config.admin_bind_host()
        run_dir = tempfile.mkdtemp(prefix="magec-workers-")  # 0700
        users = bind_group(config.host, config.port, self.count)
        admins = bind_group(admin_host, config.admin_port, self.count)
        mcp = _listen(config.mcp_bind_host(), config.mcp_port, reuse_port=False) if config.mcp_enabled else None
        self.slots = [
            WorkerSlot(i, self.count, users[i], admins[i], mcp if i == 0 else None, run_dir) for i in range(self.count)
        ]
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        log.info(
            "magec: %d workers on %s (user) and %s (admin)",
            self.count,
            listen_address(config.host, users[0].getsockname()[1]),
            listen_address(admin_host, admins[0].getsockname()[1]),
        )
        code = 0
        try:
            for i in range(self.count):
                self._start(i)
            code = self._supervise()
        finally:
            self._stop_all()
            for s in (*users, *admins, *([mcp] if mcp else [])):
                s.close()
            shutil.rmtree(run_dir, ignore_errors=True)
        return code

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if not self.stopping:
            log.info("shutting down %d workers (signal %d)", self.count, signum)
        self.stopping = True

    def _start(self, index: int) -> None:
        config = replace(self.config, worker_index=index)
        proc = self.mp.Process(
            target=_worker_main, args=(self.serve, config, self.slots[index], os.getpid()), name=f"magec-worker-{index}"
        )
        proc.start()
        self.procs[index] = proc
        self.started[index] = time.monotonic()
        log.info("worker %d started (pid %s)", index, proc.pid)

    def _supervise(self) -> int:
        while not self.stopping:
            # a dead worker's sentinel stays ready: those waiting for their restart are left out
            # (else this loop spins a core through the backoff)
            sentinels = [p.sentinel for i, p in self.procs.items() if i not in self.restart_at]
            now = time.monotonic()
            due = min(self.restart_at.values(), default=now + 0.2)
            wait(sentinels, timeout=max(0.0, min(0.2, due - now)))
            now = time.monotonic()
            for index, proc in list(self.procs.items()):
                if proc.is_alive() or self.stopping:
                    continue
                if index not in self.restart_at:
                    lived = now - self.started[index]
                    self.quick[index] = self.quick[index] + 1 if lived < QUICK_FAILURE else 0
                    log.warning("worker %d (pid %s) exited with %s after %.1fs", index, proc.pid, proc.exitcode, lived)
                    if self.quick[index] >= MAX_QUICK_FAILURES:
                        log.error("worker %d keeps failing at start; stopping", index)
                        return 1
                    self.restart_at[index] = now + min(0.5 * 2 ** max(self.quick[index] - 1, 0), 10.0)
                if now >= self.restart_at[index]:
                    del self.restart_at[index]
                    proc.close()
                    self._start(index)
        return 0

    def _stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)  # type: ignore[arg-type]
        deadline = time.monotonic() + STOP_TIMEOUT
        for index, proc in self.procs.items():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                log.warning("worker %d did not stop in %.0fs; killing it", index, STOP_TIMEOUT)
                proc.kill()
                proc.join(5)


def run(config: Config, count: int, serve: Serve, prepare: Prepare) -> int:
    """Serve with ``count`` worker processes until SIGTERM/SIGINT; the exit code.

    ``serve(config, slot)`` runs one worker (:func:`magec.server.serve`, a module-level function:
    it travels to the spawned child by name); ``prepare(config)`` readies the database once, in the
    parent, before any worker (N workers racing through the same migrations on one SQLite file
    would fail). Passed in so this package does not import the composition root."""
    return _Supervisor(config, count, serve, prepare).run()
