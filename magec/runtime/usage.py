"""Usage accounting: tokens per agent and backend for every LLM call (and voice usage).

Rows are queued in memory and written in batches by a background task, so recording never adds a
database round trip to a turn. A row is attributed to the client in :data:`TURN_CLIENT` (set for the
duration of a turn by :mod:`magec.costs`), and every recorded row is also handed to ``listeners``
(synchronously, on the event loop: the budget counters of :mod:`magec.costs` count it at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.store.tables import usage

log = logging.getLogger(__name__)

#: the client whose turn is running ("" = none: open mode, the admin, voice routes)
TURN_CLIENT: ContextVar[str] = ContextVar("magec_turn_client", default="")


class UsageRecorder:
    def __init__(self, engine: AsyncEngine, flush_interval: float = 0.5) -> None:
        self.engine = engine
        self.flush_interval = flush_interval
        self._queue: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        #: called with every recorded row (must not raise or block)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        # a flush waits for one in flight, so "flush, then read" sees every row recorded before it
        self._flushing = asyncio.Lock()
        #: rows recorded so far, and how many of them the last flush took (to tell queued from written)
        self.recorded = 0
        self.taken = 0

    def record(
        self,
        agent_id: str,
        backend_id: str,
        kind: str,
        model: str = "",
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        audio_seconds: float = 0.0,
        characters: int = 0,
        cached_tokens: int = 0,
    ) -> None:
        row: dict[str, Any] = {
            "at": datetime.now(UTC),
            "agent_id": agent_id,
            "backend_id": backend_id,
            "kind": kind,
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "audio_seconds": audio_seconds,
            "characters": characters,
            "client_id": TURN_CLIENT.get(),
            "cached_tokens": cached_tokens,
        }
        self._queue.append(row)
        self.recorded += 1
        for listener in self.listeners:
            try:
                listener(row)
            except Exception:  # noqa: BLE001 - accounting must never break serving
                log.exception("usage listener failed")

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            # shielded: a cancel (close) never interrupts a write half-way. An INSERT abandoned in
            # the driver's thread would lose its rows and keep SQLite's write lock, so every later
            # write (close's own flush too) would wait out the busy timeout and fail
            await asyncio.shield(self.flush())

    async def flush(self) -> None:
        async with self._flushing:
            if not self._queue:
                self.taken = self.recorded
                return
            rows, self._queue, self.taken = self._queue, [], self.recorded
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(usage.insert(), rows)
            except Exception:  # noqa: BLE001 - accounting must never break serving
                log.exception("could not write %d usage rows", len(rows))

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def totals(self, agent_id: str | None = None) -> list[dict[str, Any]]:
        """Sums per agent, backend and kind."""
        await self.flush()
        q = sa.select(
            usage.c.agent_id,
            usage.c.backend_id,
            usage.c.kind,
            sa.func.sum(usage.c.input_tokens),
            sa.func.sum(usage.c.output_tokens),
            sa.func.sum(usage.c.audio_seconds),
            sa.func.sum(usage.c.characters),
            sa.func.count(),
        ).group_by(usage.c.agent_id, usage.c.backend_id, usage.c.kind)
        if agent_id:
            q = q.where(usage.c.agent_id == agent_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [
            {
                "agentId": r[0],
                "backendId": r[1],
                "kind": r[2],
                "inputTokens": int(r[3] or 0),
                "outputTokens": int(r[4] or 0),
                "audioSeconds": float(r[5] or 0),
                "characters": int(r[6] or 0),
                "calls": int(r[7]),
            }
            for r in rows
        ]
