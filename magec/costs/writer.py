"""A bounded, batched background writer: the hot path only appends to a list.

Contract of :class:`BatchWriter`:

* :meth:`put` never awaits and never raises: the row — a dict, or a function that builds it,
  called by the writer so that serialising (JSON, timestamps) happens off the turn too — joins an
  in-memory queue. When the queue
  holds ``max_queue`` rows (the database is down or slower than the traffic) the *oldest* row is
  dropped and counted in :attr:`dropped` (and logged once per burst), so memory stays bounded and
  serving never waits for accounting.
* A background task (:meth:`start`) writes the queue every ``interval`` seconds, or as soon as it
  reaches ``batch`` rows, in one ``INSERT`` per batch (``executemany``). A failed write is logged
  and its rows are put back once (then dropped), so a short database outage loses nothing.
* :meth:`flush` writes what is queued when it starts (tests, shutdown, readers that need their own
  writes);
  :meth:`close` stops the task and flushes.

Generic over the table: the audit log can use it too (``BatchWriter(engine, table)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

#: a row, or a function that builds it (called at write time)
Row = dict[str, Any] | Callable[[], dict[str, Any]]


class BatchWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        table: sa.Table,
        *,
        interval: float = 0.5,
        batch: int = 500,
        max_queue: int = 10_000,
    ) -> None:
        self.engine = engine
        self.table = table
        self.interval = interval
        self.batch = batch
        self._queue: deque[Row] = deque(maxlen=max_queue)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        #: rows dropped because the queue was full (the database could not keep up)
        self.dropped = 0

    def put(self, row: Row) -> None:
        if len(self._queue) == self._queue.maxlen:
            if not self.dropped % 1000:
                log.warning("%s writer queue full: dropping the oldest rows", self.table.name)
            self.dropped += 1
        self._queue.append(row)
        if len(self._queue) >= self.batch:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await asyncio.shield(self.flush())  # a close never interrupts a write (runtime/usage.py)

    async def flush(self) -> None:
        async with self._lock:  # one writer at a time: rows are written in queue order
            # what is queued now: rows queued while it writes wait for the next flush (chasing them,
            # a flush under steady traffic never ended and wrote a few rows per transaction)
            pending = len(self._queue)
            while pending > 0 and self._queue:
                n = min(self.batch, pending, len(self._queue))
                pending -= n
                rows = self._built([self._queue.popleft() for _ in range(n)])
                if not rows:
                    continue
                if not await self._write(rows) and not await self._write(rows):
                    log.error("could not write %d %s rows; dropped", len(rows), self.table.name)
                    self.dropped += len(rows)

    def _built(self, queued: list[Row]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for item in queued:
            try:
                rows.append(item() if callable(item) else item)
            except Exception:  # noqa: BLE001 - one bad row is dropped, not the batch
                log.exception("could not build a %s row; dropped", self.table.name)
                self.dropped += 1
        return rows

    async def _write(self, rows: list[dict[str, Any]]) -> bool:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(self.table.insert(), rows)
            return True
        except Exception:  # noqa: BLE001 - accounting must never break serving
            log.exception("writing %d %s rows failed", len(rows), self.table.name)
            return False

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
