"""Session retention (``settings.sessions.retentionDays``): conversations idle that long are deleted.

Without it nothing deletes a stored conversation, so a busy bot's sessions grow until its client
meets ``limits.maxSessionBytesPerClient`` (:mod:`magec.memory.session_quota`) and every new turn is
refused. Magec's Redis sessions expire after their ``ttl``; this is the same idea for sessions in
magec's own database.

Contract:

* A session is idle since ``T`` when its last event is older than ``T`` *and* it was created before
  ``T``. The second half is for imports: imported events keep their own (old) times, and an
  imported conversation gets the whole window from its import.
* :meth:`SessionRetention.prune` deletes every session idle for ``retentionDays`` (0 = keep all,
  the default). Candidates are read a page at a time, each page going on where the last ended;
  they are deleted in write transactions of at most :data:`BATCH` sessions and
  :data:`BATCH_BYTES` stored bytes (a larger session alone, as its own ``DELETE`` would be), so
  the SQLite write lock every session write waits for is held ~0.1 s at a time. Each batch checks
  idleness again under the write lock, so a conversation that comes back while a prune runs keeps
  its session. A turn that read its session just before a batch deleted it fails at its first
  append (the session is gone), as after any delete; that needs the conversation to come back
  within that batch, after ``retentionDays`` of silence.
* It runs every ``interval`` seconds (the first time a minute after start) in one process per
  host: worker 0 of ``magec serve --workers N``. Replicas each prune; deletes are idempotent. The
  Admin API's ``POST /api/v1/admin/memory/sessions/prune`` runs it now; ``GET
  /api/v1/admin/memory/sessions/idle`` counts what it would delete (:meth:`idle`).
* A delete removes what ``DELETE …/sessions/{id}`` removes — the events, the session's state and
  its row (its bytes leave the client's stored-conversation total at once) — and then, through
  ``on_deleted``, the session's artifacts saved before the batch began (``DELETE`` keeps them, as
  ADK does; after a prune nobody knows the session any more, and the same id coming back starts
  afresh). What stays: ``user:`` / ``app:`` state and ``user:`` artifacts, long-term memories, and
  the conversation audit (bounded by ``settings.conversations``).
* Sessions of a Redis session provider are not touched (their provider's ``ttl`` applies); the
  main database's sessions are pruned whichever provider is active, so older ones go too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, NamedTuple

import sqlalchemy as sa

from magec.memory.tables import session_sessions as ss

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # app, user (owner key), session

#: sessions read per candidate query
PAGE = 1000
#: at most this many sessions, and this many of their stored bytes, per write transaction: on SQLite
#: a transaction holds the write lock every session write of every process waits for (deleting
#: ~90 MB/s of events on the dev VM: 8 MiB is ~0.1 s; 200 sessions of 20 MB each held it 50 s)
BATCH = 200
BATCH_BYTES = 8 << 20
DAY = 86400.0


class SessionRetention:
    """Prunes idle sessions of the SQL session service ``service()`` (a
    :class:`~magec.memory.sql_sessions.SqlSessionService`) by ``settings()``
    (``settings.sessions``: ``retention_days``)."""

    def __init__(
        self,
        service: Callable[[], Any],
        settings: Callable[[], Any],
        *,
        interval: float = 3600.0,
        clock: Callable[[], float] = time.time,
        on_deleted: Callable[[list[Key], float], Awaitable[None]] | None = None,
    ) -> None:
        self._service = service
        #: told the sessions each batch deleted and when it started (their artifacts go too)
        self._on_deleted = on_deleted
        self._settings = settings
        self.interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._batch: asyncio.Future[Any] | None = None
        #: sessions deleted since start (``magec_sessions_pruned``)
        self.pruned = 0

    def start(self) -> None:
        if self.interval < math.inf:  # an infinite interval (workers other than 0) never prunes
            self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        await asyncio.sleep(min(60.0, self.interval))
        while True:
            try:
                await self.prune()
            except Exception:  # noqa: BLE001 - retention must never stop the server
                log.exception("session retention: prune failed")
            await asyncio.sleep(self.interval)

    def _days(self, settings: Any) -> int:
        return int(getattr(settings if settings is not None else self._settings(), "retention_days", 0) or 0)

    async def idle(self, settings: Any = None) -> int:
        """How many sessions a prune would delete now (one count over the sessions table)."""
        days, service = self._days(settings), self._service()
        if days <= 0 or service is None:
            return 0
        before = self._clock() - days * DAY
        q = sa.select(sa.func.count()).select_from(ss).where(ss.c.update_time < before, ss.c.create_time < before)
        async with service.engine.connect() as conn:
            return int((await conn.execute(q)).scalar_one())

    async def prune(self, settings: Any = None) -> int:
        """Delete every session idle for ``settings.retention_days`` (default: the configured
        settings; 0: none); how many were deleted."""
        days = self._days(settings)
        service = self._service()
        if days <= 0 or service is None:
            return 0
        before = self._clock() - days * DAY
        deleted = 0
        async with self._lock:  # one prune at a time: the periodic one and the Admin API's
            for app in await _apps(service.engine):
                after: tuple[float, str, str] | None = None
                while not self._closed:
                    page = await _idle(service.engine, app, before, after)
                    if not page:
                        break
                    after = page[-1].position
                    for batch in _batches(page):
                        if self._closed:
                            break
                        deleted += await self._delete(service, [c.key for c in batch], before)
                    if len(page) < PAGE:
                        break
        if deleted:
            self.pruned += deleted
            log.info("session retention: deleted %d sessions idle for %d days", deleted, days)
        return deleted

    async def _delete(self, service: Any, keys: list[Key], before: float) -> int:
        """One write transaction; then what the deleted sessions leave elsewhere (their artifacts)."""
        at = self._clock()
        self._batch = asyncio.ensure_future(service.delete_idle(keys, before))
        gone: list[Key] = await asyncio.shield(self._batch)  # a batch ends whole (close waits for it)
        if gone and self._on_deleted is not None:
            try:
                await self._on_deleted(gone, at)
            except Exception:  # noqa: BLE001 - the sessions are gone; what is left is found next time
                log.exception("session retention: cleaning up after %d sessions failed", len(gone))
        return len(gone)

    async def close(self) -> None:
        self._closed = True  # a running prune stops after its batch
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._batch is not None and not self._batch.done():
            with contextlib.suppress(Exception):  # the store closes after the batch, never during
                await self._batch


async def _apps(engine: Any) -> list[str]:
    async with engine.connect() as conn:
        return [a for (a,) in await conn.execute(sa.select(ss.c.app_name).distinct())]


class _Candidate(NamedTuple):
    update_time: float
    user_id: str
    session_id: str
    nbytes: int
    app: str

    @property
    def position(self) -> tuple[float, str, str]:
        return (self.update_time, self.user_id, self.session_id)

    @property
    def key(self) -> Key:
        return (self.app, self.user_id, self.session_id)


async def _idle(engine: Any, app: str, before: float, after: tuple[float, str, str] | None) -> list[_Candidate]:
    """Up to :data:`PAGE` idle sessions of one app after ``after`` in ``(update_time, user, session)``
    order: a range of the ``(app_name, update_time)`` index, going on where the last page ended (so
    sessions kept by their creation time are read once per prune, not once per batch)."""
    q = sa.select(ss.c.update_time, ss.c.user_id, ss.c.session_id, ss.c.bytes).where(
        ss.c.app_name == app, ss.c.update_time < before, ss.c.create_time < before
    )
    if after is not None:
        q = q.where(sa.tuple_(ss.c.update_time, ss.c.user_id, ss.c.session_id) > sa.tuple_(*after))
    q = q.order_by(ss.c.update_time, ss.c.user_id, ss.c.session_id).limit(PAGE)
    async with engine.connect() as conn:
        return [_Candidate(float(t), u, s, int(n), app) for t, u, s, n in await conn.execute(q)]


def _batches(page: list[_Candidate]) -> Iterator[list[_Candidate]]:
    """Write batches of at most :data:`BATCH` sessions and :data:`BATCH_BYTES` stored bytes (a
    larger session alone, as its own ``DELETE`` would be)."""
    batch: list[_Candidate] = []
    size = 0
    for c in page:
        if batch and (len(batch) >= BATCH or size + c.nbytes > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(c)
        size += c.nbytes
    if batch:
        yield batch
