"""SQLite threads: one thread, one plain ``sqlite3`` connection, many callers.

Why: through SQLAlchemy + aiosqlite every statement costs an event-loop ↔ thread round trip plus
SQLAlchemy's own per-statement work. Here an operation is a plain function run *inside* the
thread; the thread drains whatever is queued (up to ``max_batch``) and runs it in one transaction.

* :func:`transaction` — a batch of write operations (group commit: under concurrency every SQLite
  write transaction is serialised anyway, so 50 concurrent chats queued behind ~5 round trips per
  append) is one ``BEGIN IMMEDIATE … COMMIT``, each operation under its own SAVEPOINT (one failing
  operation — a stale session, say — rolls back alone). Callers are resumed only after the COMMIT,
  so an awaited write is durable (WAL, ``synchronous=NORMAL``, as the rest of magec). Light writes
  run it on the caller's event loop (:class:`magec.memory._sqlite_write.SqliteWriter`);
  :class:`ThreadWriter` runs it in a thread for the heavy ones.
* :class:`SqliteReader` — a session read through the engine was two or three statements, each a
  thread hop (~2 ms of CPU per read on the bench machine); here it is one hop for the whole read
  (~0.2 ms). Its batch is one read transaction (``BEGIN`` … ``COMMIT``, a WAL snapshot: the reads
  of a batch see one consistent database) on a ``query_only`` connection. A read is queued after
  its caller's earlier writes were committed (the writer resumes callers only then), so the
  snapshot always holds them: read-your-writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]
_STOP = object()


class _SqliteThread:
    """Runs ``op(conn)`` functions in a dedicated thread, batched (:meth:`_run_batch`)."""

    name = "magec-sqlite"

    def __init__(self, path: str, max_batch: int = 128, busy_timeout_ms: int = 30000) -> None:
        self.path = path
        self.max_batch = max_batch
        self.busy_timeout_ms = busy_timeout_ms
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_thread(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            return  # the common case, without the lock
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in the next batch; its result (or exception) once the batch has ended."""
        self._ensure_thread()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((op, future, loop))
        return await future

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=10)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, self.busy_timeout_ms / 1000)

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        self._queue.put(_STOP)
                        break
                    batch.append(item)
                if conn is None:
                    try:
                        conn = self._connect()
                    except Exception as e:  # noqa: BLE001 - every waiting caller gets it; the next batch retries
                        log.exception("sqlite connection failed")
                        self._deliver(batch, [(False, e)] * len(batch))
                        continue
                self._deliver(batch, self._run_batch(conn, [op for op, _f, _l in batch]))
        finally:
            if conn is not None:
                conn.close()

    def _run_batch(self, conn: sqlite3.Connection, ops: list[Op]) -> list[tuple[bool, Any]]:
        raise NotImplementedError

    @staticmethod
    def _deliver(batch: list[Any], results: list[tuple[bool, Any]]) -> None:
        for (_op, future, loop), (ok, value) in zip(batch, results, strict=True):
            try:
                loop.call_soon_threadsafe(resolve, future, ok, value)
            except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
                pass


def connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    """A plain connection as magec's SQLite threads and writers use it: autocommit (transactions
    are explicit), WAL, ``synchronous=NORMAL``, waiting up to ``busy_timeout`` s for a lock."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def writer_pragmas(conn: sqlite3.Connection) -> None:
    """As every engine connection (:func:`magec.store.pool.make_engine`): a deleted session's events
    are zeroed on disk, not left readable in free pages."""
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA secure_delete=ON")


def transaction(conn: sqlite3.Connection, ops: list[Op]) -> list[tuple[bool, Any]]:
    """``ops`` in one ``BEGIN IMMEDIATE … COMMIT``, each under its own SAVEPOINT; ``(ok, result or
    exception)`` per operation. A failure of the transaction itself (locked, disk full) is every
    operation's result."""
    results: list[tuple[bool, Any]] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        for op in ops:
            conn.execute("SAVEPOINT op")
            try:
                results.append((True, op(conn)))
                conn.execute("RELEASE op")
            except Exception as e:  # noqa: BLE001 - handed to that caller only
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                results.append((False, e))
        conn.execute("COMMIT")
    except Exception as e:  # noqa: BLE001 - the whole batch failed (disk full, locked…)
        if not is_busy(e):
            log.exception("sqlite write batch failed")
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        results = [(False, e)] * len(ops)
    return results


def is_busy(e: BaseException) -> bool:
    """SQLite's write lock is held by another connection."""
    code = getattr(e, "sqlite_errorcode", None)  # extended (SQLITE_BUSY_SNAPSHOT…): the low byte is the primary
    return isinstance(e, sqlite3.OperationalError) and isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


class ThreadWriter(_SqliteThread):
    """Write operations group-committed in a thread (:func:`transaction` per batch), each batch
    under ``lock`` (:class:`~magec.memory._sqlite_write.WriteLock`) when given."""

    name = "magec-sqlite-writer"

    def __init__(self, path: str, lock: Callable[[], contextlib.AbstractContextManager[Any]] | None = None) -> None:
        super().__init__(path)
        self._write_lock = lock

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        writer_pragmas(conn)
        return conn

    def _run_batch(self, conn: sqlite3.Connection, ops: list[Op]) -> list[tuple[bool, Any]]:
        if self._write_lock is None:
            return transaction(conn, ops)
        try:
            with self._write_lock():
                return transaction(conn, ops)
        except OSError as e:  # the lock file cannot be opened or locked: every caller gets it
            log.error("sqlite write lock unavailable: %s", e)
            return [(False, e)] * len(ops)


class SqliteReader(_SqliteThread):
    """Read operations: one read transaction (a consistent snapshot) per batch; no writes."""

    name = "magec-sqlite-reader"

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        conn.execute("PRAGMA query_only=1")  # a read operation that tried to write fails, never writes
        return conn

    def _run_batch(self, conn: sqlite3.Connection, ops: list[Op]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN")
        except Exception as e:  # noqa: BLE001 - every caller of the batch gets it
            log.exception("sqlite read batch failed")
            return [(False, e)] * len(ops)
        for op in ops:
            try:
                results.append((True, op(conn)))
            except Exception as e:  # noqa: BLE001 - handed to that caller only
                results.append((False, e))
        try:
            conn.execute("COMMIT")  # ends the snapshot; a read-only transaction has nothing to lose
        except sqlite3.Error:
            log.exception("sqlite read batch failed to end")
        return results


def resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    """Hand an operation's ``(ok, result or exception)`` to its caller, unless it gave up."""
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
