"""The month's LLM token sums from the ``usage`` table, read incrementally (the database side of
the budget counters, :mod:`magec.costs.budgets`).

Contract:
* :meth:`UsageTally.read` returns the tokens per ``(scope, id, period)`` and model of every
  committed ``llm`` usage row of the current UTC month (``period`` ``"day"`` for today's rows too),
  as :func:`count` adds them. It reads only rows it has not counted: the rows past the highest id
  counted, plus the ids it saw skipped. The first read aggregates the month in SQL (all but the
  newest ``window`` ids, which are read as rows), and so does a read on a new UTC day or
  ``recount_interval`` after the last aggregate (a safety net: another replica's clock, rows lost
  to the cases below).
* **Skipped ids.** On PostgreSQL, ids come from one sequence shared by every replica, and a batch can
  commit after a later id did. An id below the highest counted that was not there is kept as
  *missing* and asked for again on every read until it appears, for at most ``missing_ttl``
  seconds (a rolled-back insert never appears) and at most :data:`MAX_MISSING` ids (the newest).
  SQLite writes one transaction at a time, so there its ids commit in order.
* Cost of a read: the rows written since the last one. Before, every refresh re-aggregated the
  month: 140 ms at 100k rows, 2.9 s at 1M (SQLite), longer than the 2 s refresh interval.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from magec.store.tables import usage

Key = tuple[str, str, str]  # (scope, id, period)
Tokens = list[int]  # [input, output, cached]
Counts = dict[Key, dict[str, Tokens]]

MAX_MISSING = 1000
_ROW_COLUMNS = (usage.c.id, usage.c.kind, usage.c.at, usage.c.agent_id, usage.c.client_id, usage.c.model,
                usage.c.input_tokens, usage.c.output_tokens, usage.c.cached_tokens)


def new_counts() -> Counts:
    return defaultdict(dict)


def utc(at: datetime) -> datetime:
    """A row's time in UTC (SQLite gives it back naive, already UTC; PostgreSQL in the session's zone)."""
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)


def add_tokens(counts: Counts, agent_id: str, client_id: str, model: str, periods: Iterable[str],
               tokens: tuple[int, int, int]) -> None:
    owners = [("agent", agent_id)] + ([("client", client_id)] if client_id else [])
    for scope, rid in owners:
        for period in periods:
            acc = counts[(scope, rid, period)].setdefault(model, [0, 0, 0])
            for i, n in enumerate(tokens):
                acc[i] += n


def count(counts: Counts, row: Any, today: date) -> None:
    """Add one ``llm`` usage row of this month (a mapping with the table's column names)."""
    at = utc(row["at"])
    if row["kind"] != "llm" or (at.year, at.month) != (today.year, today.month):
        return
    tokens = (int(row["input_tokens"] or 0), int(row["output_tokens"] or 0), int(row.get("cached_tokens") or 0))
    periods = ("day", "month") if at.date() == today else ("month",)
    add_tokens(counts, row["agent_id"], row.get("client_id") or "", row["model"], periods, tokens)


def period_start(period: str, now: datetime) -> datetime:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day if period == "day" else day.replace(day=1)


class UsageTally:
    def __init__(self, *, window: int = 10_000, recount_interval: float = 3600.0,
                 missing_ttl: float = 600.0) -> None:
        self.window = window
        self.recount_interval = recount_interval
        self.missing_ttl = missing_ttl
        self.counts: Counts = new_counts()
        self._day: date | None = None
        self._recounted = 0.0
        self._top = 0  # the highest id counted
        self._missing: dict[int, float] = {}  # skipped id -> when it was first seen skipped
        self._lock = asyncio.Lock()
        #: how many reads aggregated the month, and how many rows the incremental reads took
        self.recounts = 0
        self.rows_read = 0

    async def read(self, engine: AsyncEngine) -> Counts:
        async with self._lock:
            now = datetime.now(UTC)
            today = now.date()
            recount = today != self._day or time.monotonic() - self._recounted >= self.recount_interval
            async with engine.connect() as conn:
                if recount:
                    await self._aggregate(conn, now)
                await self._read_rows(conn, today)
            return self.counts

    async def _aggregate(self, conn: AsyncConnection, now: datetime) -> None:
        top = int((await conn.execute(sa.select(sa.func.max(usage.c.id)))).scalar() or 0)
        settled = max(top - self.window, 0)
        month_start, day_start = period_start("month", now), period_start("day", now)
        is_today = sa.case((usage.c.at >= day_start, 1), else_=0)
        q = (
            sa.select(usage.c.agent_id, usage.c.client_id, usage.c.model, is_today,
                      sa.func.sum(usage.c.input_tokens), sa.func.sum(usage.c.output_tokens),
                      sa.func.sum(usage.c.cached_tokens))
            .where(usage.c.kind == "llm", usage.c.at >= month_start, usage.c.id <= settled)
            .group_by(usage.c.agent_id, usage.c.client_id, usage.c.model, is_today)
        )
        counts = new_counts()
        for agent_id, client_id, model, today, tin, tout, tcached in (await conn.execute(q)).all():
            add_tokens(counts, agent_id, client_id, model, ("day", "month") if today else ("month",),
                       (int(tin or 0), int(tout or 0), int(tcached or 0)))
        # the newest ``window`` ids are read as rows, so the ones still in flight are known as missing
        self.counts, self._day, self._top, self._missing = counts, now.date(), settled, {}
        self._recounted = time.monotonic()
        self.recounts += 1

    async def _read_rows(self, conn: AsyncConnection, today: date) -> None:
        cond = usage.c.id > self._top
        if self._missing:
            cond = sa.or_(cond, usage.c.id.in_(sorted(self._missing)))
        rows = (await conn.execute(sa.select(*_ROW_COLUMNS).where(cond).order_by(usage.c.id))).mappings().all()
        self.rows_read += len(rows)
        now = time.monotonic()
        previous = self._top
        for row in rows:
            count(self.counts, row, today)
            self._missing.pop(row["id"], None)
        fresh = [int(row["id"]) for row in rows if row["id"] > previous]
        if fresh:
            self._top = fresh[-1]
            self._note_gaps(previous, fresh, now)
        self._missing = {i: t for i, t in self._missing.items() if now - t < self.missing_ttl}
        if len(self._missing) > MAX_MISSING:
            self._missing = dict(sorted(self._missing.items())[-MAX_MISSING:])

    def _note_gaps(self, previous: int, fresh: list[int], now: float) -> None:
        """The ids between ``previous`` and the new top that were not there, newest first, capped."""
        room = MAX_MISSING
        upper = fresh[-1]
        for lower in reversed([previous, *fresh[:-1]]):
            for i in range(upper - 1, lower, -1):
                if room <= 0:
                    return
                self._missing.setdefault(i, now)
                room -= 1
            upper = lower
