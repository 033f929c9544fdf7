"""A group-committing SQLite writer: one thread, one ``sqlite3`` connection, many callers.

Why: under concurrency every SQLite write transaction is serialised anyway, and through
SQLAlchemy + aiosqlite each statement costs an event-loop ↔ thread round trip, so 50 concurrent
chats queue behind ~5 round trips per append. Here an operation is a plain function run *inside*
the writer thread; the thread drains whatever is queued (up to ``max_batch``) into one
``BEGIN IMMEDIATE … COMMIT``, each operation under its own SAVEPOINT (one failing operation — a
stale session, say — rolls back alone). Callers are resumed only after the COMMIT, so an awaited
write is durable (WAL, ``synchronous=NORMAL``, as the rest of magec).

Readers are unaffected: they keep using the SQLAlchemy engine (WAL lets them read concurrently).
"""

from __future__ import annotations

import asyncio
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


class SqliteWriter:
    """Runs ``op(conn)`` functions in a dedicated thread, batched into shared transactions."""

    def __init__(self, path: str, max_batch: int = 128, busy_timeout_ms: int = 30000) -> None:
        self.path = path
        self.max_batch = max_batch
        self.busy_timeout_ms = busy_timeout_ms
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="magec-sqlite-writer", daemon=True)
                self._thread.start()

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in the next batch; its result (or exception) once the batch has committed."""
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
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout_ms / 1000)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        return conn

    def _loop(self) -> None:
        conn = self._connect()
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
                self._run_batch(conn, batch)
        finally:
            conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, _future, _loop in batch:
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
            log.exception("sqlite write batch failed")
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            results = [(False, e)] * len(batch)
        for (_op, future, loop), (ok, value) in zip(batch, results, strict=True):
            try:
                loop.call_soon_threadsafe(_resolve, future, ok, value)
            except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
                pass


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
