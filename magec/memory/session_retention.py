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
  the default), in batches of :data:`BATCH` per write transaction. Each batch checks idleness again
  under the write lock, so a conversation that comes back while a prune runs keeps its session. A
  turn that read its session just before the prune deleted it fails at its first append (the
  session is gone), as after any delete; that needs the conversation to come back within the
  prune's own batch, after ``retentionDays`` of silence.
* It runs every ``interval`` seconds (the first time a minute after start) in one process per
  host: worker 0 of ``magec serve --workers N``. Replicas each prune; deletes are idempotent. The
  Admin API's ``POST /api/v1/admin/sessions/prune`` runs it now.
* What a delete removes is what ``DELETE …/sessions/{id}`` removes: the events, the session's
  state and its row (its bytes leave the client's stored-conversation total at once). What stays:
  ``user:`` / ``app:`` state, the session's artifacts (ADK's rule: delete them by name), long-term
  memories, and the conversation audit (bounded by ``settings.conversations``).
* Sessions of a Redis session provider are not touched (their provider's ``ttl`` applies); the
  main database's sessions are pruned whichever provider is active, so older ones go too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from magec.memory.tables import session_sessions as ss

log = logging.getLogger(__name__)

#: sessions deleted per write transaction (each holds the SQLite write lock for its batch only)
BATCH = 200
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
    ) -> None:
        self._service = service
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

    async def prune(self, settings: Any = None) -> int:
        """Delete every session idle for ``settings.retention_days`` (default: the configured
        settings; 0: none); how many were deleted."""
        days = int(getattr(settings if settings is not None else self._settings(), "retention_days", 0) or 0)
        if days <= 0:
            return 0
        service = self._service()
        if service is None:
            return 0
        before = self._clock() - days * DAY
        deleted = 0
        async with self._lock:  # one prune at a time: the periodic one and the Admin API's
            for app in await _apps(service.engine):
                while not self._closed:
                    keys = await _idle(service.engine, app, before)
                    self._batch = asyncio.ensure_future(service.delete_idle(keys, before))
                    gone = await asyncio.shield(self._batch)  # a batch ends whole (close waits for it)
                    deleted += len(gone)
                    if len(keys) < BATCH or not gone:
                        break
        if deleted:
            self.pruned += deleted
            log.info("session retention: deleted %d sessions idle for %d days", deleted, days)
        return deleted

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


async def _idle(engine: Any, app: str, before: float) -> list[tuple[str, str, str]]:
    """Up to :data:`BATCH` idle sessions of one app (a range of the ``(app_name, update_time)`` index)."""
    q = (
        sa.select(ss.c.user_id, ss.c.session_id)
        .where(ss.c.app_name == app, ss.c.update_time < before, ss.c.create_time < before)
        .order_by(ss.c.update_time)
        .limit(BATCH)
    )
    async with engine.connect() as conn:
        return [(app, user, sid) for user, sid in await conn.execute(q)]
