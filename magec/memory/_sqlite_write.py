"""SQLite session writes: group-committed on the caller's event loop, one writer at a time across
processes.

Contract: ``await SqliteWriter(path).run(op, size=n)`` runs ``op(conn)`` (writing about ``n``
bytes) inside a write transaction (:func:`~magec.memory._sqlite_writer.transaction`: batched with
the operations queued meanwhile, each under its own SAVEPOINT) and returns its result once the
COMMIT is done; ``run(op, heavy=True)`` does the same in a thread, for an operation that may take
long (deleting a whole session), as does an operation over :data:`LOOP_BYTES`. Every transaction, in every process on the file, holds the file lock
``<db>-writelock`` (``flock``) while it runs.

Why on the loop: run in a thread, a transaction's ~10 ``sqlite3`` calls each release the GIL and
must win it back from the busy event loop, so a batch worth ~0.5 ms of CPU held SQLite's write lock
for ~2.2 ms (measured with ``magec serve --workers 2`` on one file, docs/benchmarks.md). With
several processes that lock is the bottleneck (each worker waited ~3 ms per batch for the other's),
so the workers sat idle. On the loop a batch runs without a thread switch; it is capped at
``max_batch`` operations and :data:`BATCH_BYTES` (≲ 3 ms of loop time).

Why a file lock: a writer that finds SQLite's lock taken sleeps in SQLite's busy handler (1, 2, 5,
10… ms) while the holder's batch lasts a fraction of that; the kernel wakes a waiter on ``flock``
the moment it is released. The loop never blocks on it: it tries without waiting, and if another
process holds it a thread waits for it to be free and wakes the loop, which tries again (the
thread does not keep it: a loop busy for a while would hold every other process's writes). A
batch that waited :data:`LOCK_TIMEOUT` for either lock fails, as SQLite's busy timeout would. The loop's connection
has ``busy_timeout = 0``: a writer outside this class (the engine's audit or usage flush, holding
SQLite's lock without the file lock) makes the batch retry shortly, never stalls the loop. The loop's
connection does not checkpoint on commit (an fsync on the loop); a thread does it, under the file
lock, every :data:`CHECKPOINT_OPS` operations.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from magec.memory._sqlite_writer import ThreadWriter, connect, is_busy, resolve, transaction, writer_pragmas

log = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

#: operations in one transaction on the loop (each ~0.05–0.1 ms of CPU)
MAX_BATCH = 32
#: bytes of data in one transaction on the loop (writing 1 MiB costs ~1–2 ms)
BATCH_BYTES = 1 << 20
#: an operation carrying more than this runs in the thread (as a heavy one)
LOOP_BYTES = 256 << 10
#: how long a batch waits, in all, for a lock held by another writer before it fails (SQLite's
#: ``busy_timeout`` everywhere else in magec)
LOCK_TIMEOUT = 30.0
#: between two tries while SQLite's own lock is held by a writer without the file lock
BUSY_RETRY = 0.0005
#: operations after which the loop's writer asks a thread for a checkpoint (an append writes ~3–5
#: pages: about SQLite's own default of 1000 pages). Counted, not read from the WAL's size: the file
#: keeps its largest size after a checkpoint
CHECKPOINT_OPS = 256


#: ``flock`` errors that mean "not on this file system" (not "taken")
_NO_FLOCK = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})


def lock_path(path: str) -> str:
    return f"{path}-writelock"


class WriteLock:
    """One holder of the file lock (its own open file: two holders exclude each other even in one
    process). On a file system without ``flock`` (some network mounts: ``ENOLCK``, ``EOPNOTSUPP``)
    it is a no-op and SQLite's own lock alone serialises the writers, as it always has."""

    def __init__(self, path: str) -> None:
        self.path = lock_path(path)
        self._fd: int | None = None
        self.unsupported = False

    def fd(self) -> int:
        if self._fd is None:
            # 0600 beside the database: the directory is the operator's data dir
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def _flock(self, op: int) -> None:
        try:
            fcntl.flock(self.fd(), op)
        except OSError as e:
            if e.errno not in _NO_FLOCK:
                raise
            if not self.unsupported:
                log.warning("%s: no flock on this file system (%s); SQLite's own lock serialises writers", self.path, e)
            self.unsupported = True

    def try_acquire(self) -> bool:
        if self.unsupported:
            return True
        try:
            self._flock(fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def acquire(self) -> None:
        """Blocking: only from a thread that may wait."""
        if not self.unsupported:
            self._flock(fcntl.LOCK_EX)

    def release(self) -> None:
        if self._fd is not None and not self.unsupported:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class SqliteWriter:
    """Session writes on one SQLite file (see the module docstring)."""

    def __init__(self, path: str, max_batch: int = MAX_BATCH) -> None:
        self.path = path
        self.max_batch = max_batch
        self._heavy_lock = WriteLock(path)
        self._heavy = ThreadWriter(path, lock=self._heavy_lock.held)
        # one writer per event loop (the tests run several loops in one process; a served process
        # has one); each holds a connection and a file until close()
        self._loops: dict[asyncio.AbstractEventLoop, _LoopWriter] = {}

    async def run(self, op: Callable[[sqlite3.Connection], T], *, heavy: bool = False, size: int = 0) -> T:
        if heavy or size > LOOP_BYTES:
            return await self._heavy.run(op)
        loop = asyncio.get_running_loop()
        writer = self._loops.get(loop)
        if writer is None:
            writer = self._loops[loop] = _LoopWriter(self.path, loop, self.max_batch)
        result: T = await writer.run(op, size)
        return result

    def close(self) -> None:
        """Finish what is queued (blocking; at shutdown) and close the connections and locks."""
        for writer in list(self._loops.values()):
            writer.close()
        self._loops.clear()
        self._heavy.close()
        self._heavy_lock.close()


class _LoopWriter:
    """The writes of one event loop: a queue, a connection and a file lock, all used on that loop,
    and a thread that waits for the lock to be free when another process holds it.

    The waiting thread only *watches* the lock (takes it and lets it go at once) and wakes the
    loop, which then tries again: a lock handed to a loop that is busy for a while would keep every
    other process's writes waiting that long."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop, max_batch: int) -> None:
        self.path = path
        self.loop = loop
        self.max_batch = max_batch
        self.lock = WriteLock(path)
        self.conn: sqlite3.Connection | None = None
        self.pending: collections.deque[tuple[Op, asyncio.Future[Any], int]] = collections.deque()
        self.scheduled = False  # a try is scheduled, or the thread is watching the lock for us
        self.watching = False  # the thread is waiting for the lock to be free
        self.closed = False
        self.busy_since: float | None = None  # … for SQLite's own lock (held without the file lock)
        self.timer: asyncio.TimerHandle | None = None
        self.checkpointing = False
        self.written = 0  # operations since the last checkpoint
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    async def run(self, op: Op, size: int) -> Any:
        future = self.loop.create_future()
        self.pending.append((op, future, size))
        if not self.scheduled:
            self.scheduled = True
            # on the next loop iteration: the writes queued during this one commit together
            self.loop.call_soon(self._try)
        return await future

    def _connect(self) -> sqlite3.Connection:
        conn = connect(self.path, 0)  # never sleep on the loop, not even for the first statements
        conn.execute("PRAGMA wal_autocheckpoint=0")  # never fsync on the loop (_maybe_checkpoint)
        writer_pragmas(conn)
        return conn

    # -- on the loop ---------------------------------------------------------------------------
    def _try(self) -> None:
        """Run the next batch if the file lock is free, else have the thread watch it."""
        if self.closed or not self.pending:
            self.scheduled = False
            return
        try:
            got = self.lock.try_acquire()
        except OSError as e:  # the lock file cannot be opened (a read-only data dir…)
            self._fail(e)
            return
        if got:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self._drain()
            return
        if self.timer is None:  # the head of the queue starts waiting for the file lock
            self.timer = self.loop.call_later(LOCK_TIMEOUT, self._expire)
        try:
            self._watch()
        except RuntimeError as e:  # no thread can be started
            self._fail(e)

    def _lock_free(self) -> None:
        self.watching = False
        self._try()

    def _expire(self) -> None:
        """The file lock was not free for :data:`LOCK_TIMEOUT`: the waiting writes fail (as
        SQLite's busy timeout fails them elsewhere); the thread keeps watching for later ones."""
        self.timer = None
        self._fail(sqlite3.OperationalError(f"database is locked: another writer held it for {LOCK_TIMEOUT:.0f} s"))

    def _drain(self) -> None:
        """Holding the file lock: one transaction of queued writes, then release."""
        if self.closed or not self.pending:
            self.lock.release()
            self.scheduled = False
            return
        batch = [self.pending.popleft()]
        size = batch[0][2]
        while self.pending and len(batch) < self.max_batch and size + self.pending[0][2] <= BATCH_BYTES:
            batch.append(self.pending.popleft())
            size += batch[-1][2]
        live = [item for item in batch if not item[1].done()]  # a caller cancelled meanwhile: skip it
        results: list[tuple[bool, Any]] = []
        try:
            if live:
                if self.conn is None:
                    self.conn = self._connect()
                results = transaction(self.conn, [op for op, _f, _n in live])
        except Exception as e:  # noqa: BLE001 - the connection could not be opened
            results = [(False, e)] * len(live)
        finally:
            self.lock.release()
        if live and all(not ok and is_busy(v) for ok, v in results):
            # SQLite's lock is held by a writer without the file lock (an engine flush): shortly again
            now = time.monotonic()
            if self.busy_since is None:
                self.busy_since = now
            if now - self.busy_since < LOCK_TIMEOUT:
                self.pending.extendleft(reversed(live))
                self.loop.call_later(BUSY_RETRY, self._try)
                return
        self.busy_since = None
        for (_op, future, _n), (ok, value) in zip(live, results, strict=True):
            resolve(future, ok, value)
        self.written += len(live)
        self._maybe_checkpoint()
        if self.pending:
            self.loop.call_soon(self._try)
        else:
            self.scheduled = False

    def _fail(self, error: BaseException) -> None:
        log.error("sqlite session write failed: %s", error)
        while self.pending:
            _op, future, _n = self.pending.popleft()
            resolve(future, False, error)
        self.busy_since = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.scheduled = False

    def _maybe_checkpoint(self) -> None:
        if self.checkpointing or self.written < CHECKPOINT_OPS:
            return
        self.checkpointing, self.written = True, 0
        try:
            future = self.loop.run_in_executor(None, checkpoint, self.path)
        except RuntimeError as e:  # the executor is shut down (the loop is closing): next time
            self.checkpointing = False
            log.warning("sqlite checkpoint not started: %s", e)
            return
        future.add_done_callback(self._checkpointed)

    def _checkpointed(self, future: asyncio.Future[None]) -> None:
        self.checkpointing = False
        if not future.cancelled() and future.exception() is not None:
            log.warning("sqlite checkpoint failed: %s", future.exception())

    # -- the watching thread -------------------------------------------------------------------
    def _watch(self) -> None:
        if self.watching:
            return
        self.watching = True
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._watcher, name="magec-sqlite-lock", daemon=True)
            self._thread.start()
        self._wake.set()

    def _watcher(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self.closed:
                break
            try:
                self.lock.acquire()  # returns once no other process holds it …
                self.lock.release()  # … and lets it go: the loop takes it when it gets there
            except OSError as e:
                if not self._call(self._fail, e):
                    break
                continue
            if self.closed or not self._call(self._lock_free):
                break
        self.lock.close()  # this thread may have been inside flock() when close() ran

    def _call(self, fn: Callable[..., None], *args: Any) -> bool:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed
            return False
        return True

    # -- shutdown ------------------------------------------------------------------------------
    def close(self) -> None:
        """Blocking (at shutdown): commit what is still queued, then close."""
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        ops = [(op, f) for op, f, _n in self.pending if not f.done()]
        self.pending.clear()
        if ops:
            final = WriteLock(self.path)  # its own open file: excluded from the watcher's, too
            try:
                with final.held():
                    if self.conn is None:
                        self.conn = self._connect()
                    self.conn.execute(f"PRAGMA busy_timeout={int(LOCK_TIMEOUT * 1000)}")
                    results = transaction(self.conn, [op for op, _f in ops])
            except OSError as e:
                results = [(False, e)] * len(ops)
            finally:
                final.close()
            for (_op, future), (ok, value) in zip(ops, results, strict=True):
                if not future.get_loop().is_closed():
                    resolve(future, ok, value)
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self._thread is not None and self._thread.is_alive():
            self._wake.set()  # it closes the lock file itself, once out of flock()
        else:
            self.lock.close()


def checkpoint(path: str) -> None:
    """In a thread: move the WAL's frames into the database, holding the writers' file lock so that
    the checkpoint completes and the next write starts the WAL from its beginning (a checkpoint
    racing a steady stream of writes never completes, and the WAL grows without bound)."""
    lock = WriteLock(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=1000")
        with lock.held():
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        conn.close()
        lock.close()


__all__ = ["BATCH_BYTES", "CHECKPOINT_OPS", "LOOP_BYTES", "MAX_BATCH", "SqliteWriter", "WriteLock", "checkpoint", "lock_path"]
