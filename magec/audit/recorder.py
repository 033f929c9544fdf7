"""The audit recorder: every turn, queued in memory and written in batches off the hot path.

Contract:

* :meth:`AuditRecorder.begin` is called by :func:`magec.runtime.run.run_turn` when a turn starts
  and returns a :class:`~magec.audit.shape.Probe` (or None when ``settings.conversations.enabled``
  is false); the turn hands it its events (a list append each) and :meth:`Probe.finish` puts it
  on the queue. Nothing on a turn's path touches the database, serialises JSON or redacts text.
* **Bounded, never blocking.** The queue holds at most ``max_queue`` finished turns; when full,
  the oldest is dropped and ``magec_audit_dropped_total`` counts it (a turn is never delayed to
  save its record).
* **Batches.** A background task wakes every ``flush_interval`` seconds (or as soon as
  ``batch_size`` turns are waiting) and writes up to ``batch_size`` turns per transaction:
  conversations are found or created (one per app, session owner and session id), their
  ``ended_at`` moved, and the turns inserted. A write that fails is logged and its batch dropped
  (counted too): the audit never breaks serving.
* **Clean stop.** :meth:`close` stops the task and writes everything still queued: a turn that
  finished before the server stopped is in the database.
* :meth:`flush` writes what is queued when it starts (not what finishes meanwhile: a flush that
  chased new turns under steady traffic never ended and wrote a few turns per transaction); the
  Admin API calls it before reading, so this process's own turns are always listed (other
  replicas' within ``flush_interval``).
* Retention: :meth:`prune` applies ``settings.conversations`` (``retentionDays``, ``maxTurns``);
  it runs every ``prune_interval`` seconds and on ``POST /conversations/prune``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.audit.context import current
from magec.audit.shape import Probe, message_text, preview, split_owner, turn_row
from magec.audit.tables import audit_conversations as conv_t
from magec.audit.tables import audit_turns as turn_t

log = logging.getLogger(__name__)

#: Magec's ``source`` for surfaces without a client
_SOURCES = {"playground": "playground"}
_CACHE = 10_000
#: seconds between writes when fewer than a batch are waiting
FLUSH_INTERVAL = 0.5


class AuditRecorder:
    def __init__(
        self,
        engine: AsyncEngine,
        registry: CollectorRegistry | None = None,
        *,
        flush_interval: float | None = None,
        batch_size: int = 500,
        max_queue: int = 50_000,
        prune_interval: float = 3600.0,
        settings: Callable[[], Any] | None = None,
    ) -> None:
        self.engine = engine
        self.flush_interval = FLUSH_INTERVAL if flush_interval is None else flush_interval
        self.batch_size = batch_size
        self.prune_interval = prune_interval
        self._queue: deque[Probe] = deque(maxlen=max_queue)
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._pruning: asyncio.Future[int] | None = None
        self._closed = False
        #: (app id, owner, session id) -> (id, admin id) of conversations known to exist
        self._ids: OrderedDict[tuple[str, str, str], tuple[str, str]] = OrderedDict()
        #: ``settings.conversations`` of the running configuration (None: the newest a turn saw)
        self._settings_of = settings
        self._settings: Any = None
        reg = registry if registry is not None else CollectorRegistry()
        self.dropped = Counter("magec_audit_dropped", "Audit records dropped (queue full or write failed)",
                               ["reason"], registry=reg)
        self.written = Counter("magec_audit_written", "Turns written to the conversation audit", registry=reg)
        self.queued = Gauge("magec_audit_queue", "Finished turns waiting to be written", registry=reg)
        self.queued.set_function(lambda: len(self._queue))

    # -- the hot path ----------------------------------------------------------------------------
    def begin(self, runtime: Any, app: Any, owner: str, session_id: str, message: Any) -> Probe | None:
        """A probe for a starting turn, or None when the audit is switched off in settings."""
        snap = runtime.snapshot
        settings = getattr(snap.settings, "conversations", None)
        self._settings = settings
        if self._closed or (settings is not None and not settings.enabled):
            return None
        who = current()
        return Probe(
            snapshot=snap,
            app_id=app.id,
            app_kind=app.kind,
            app_name=app.name or app.id,
            owner=owner,
            session_id=session_id,
            message=message,
            surface=who.surface if who is not None else "api",
            source=who.source if who is not None else "",
            voice=who.voice if who is not None else False,
            user_name=who.user_name[:255] if who is not None else "",
            started=datetime.now(UTC),
            t0=time.perf_counter(),
            recorder=self,
        )

    def enqueue(self, probe: Probe) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped.labels("queue_full").inc()
        self._queue.append(probe)
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    # -- the writer ------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        # an infinite interval (workers other than 0, magec.workers) never prunes
        next_prune = time.monotonic() + (min(60.0, self.prune_interval) if self.prune_interval < math.inf else math.inf)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            await asyncio.shield(self.flush())  # a close never interrupts a write (runtime/usage.py)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.prune_interval
                try:
                    settings = self._settings_of() if self._settings_of is not None else self._settings
                    self._pruning = asyncio.ensure_future(self.prune(settings))
                    await asyncio.shield(self._pruning)  # close waits for it instead
                except Exception:  # noqa: BLE001 - retention must never stop the writer
                    log.exception("conversation audit: prune failed")

    async def flush(self) -> int:
        """Write every turn queued now (turns that finish while it writes wait for the next flush:
        under steady traffic a flush that chased them would never end, writing a few turns per
        transaction instead of a batch); the number written."""
        written = 0
        async with self._lock:
            pending = len(self._queue)
            while pending > 0 and self._queue:
                n = min(self.batch_size, pending, len(self._queue))
                pending -= n
                batch = [self._queue.popleft() for _ in range(n)]
                try:
                    await self._write(batch)
                    written += len(batch)
                    self.written.inc(len(batch))
                except Exception:  # noqa: BLE001 - the audit must never break serving
                    self.dropped.labels("write_failed").inc(len(batch))
                    log.exception("conversation audit: could not write %d turns", len(batch))
        return written

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pruning is not None and not self._pruning.done():
            try:  # a prune the loop started runs to its end before the store closes
                await self._pruning
            except Exception:  # noqa: BLE001 - retention must never stop a shutdown
                log.exception("conversation audit: prune failed")
        await self.flush()

    def forget(self, conversation_id: str | None = None) -> None:
        """Drop cached conversation ids (after a delete) so the next turn creates a new one."""
        if conversation_id is None:
            self._ids.clear()
            return
        for key, ids in list(self._ids.items()):
            if conversation_id in ids:
                del self._ids[key]

    async def _write(self, batch: list[Probe]) -> None:
        """One transaction per batch: the rows are built first (the CPU part, outside the
        transaction, so a SQLite write lock is held only for the statements), then the known
        conversations' last activity is moved (one UPDATE), new conversations are found or created
        (one lookup, one insert) and the turns inserted (one insert)."""
        last: dict[tuple[str, str, str], datetime] = {}
        first: dict[tuple[str, str, str], Probe] = {}
        #: the newest display name a batch's turns give each conversation's user (a rename shows)
        names: dict[tuple[str, str, str], str] = {}
        rows: list[tuple[tuple[str, str, str], dict[str, Any]]] = []
        for p in batch:
            k = (p.app_id, p.owner, p.session_id)
            first.setdefault(k, p)
            last[k] = max(last.get(k, p.started), p.started)
            if p.user_name:
                names[k] = p.user_name
            client_id, user_id = split_owner(p.owner, p.snapshot)
            row = turn_row(p, "", user_id, client_id)
            row["source"] = row["source"] or _source(p, client_id)
            rows.append((k, storable(row)))
        # ids known before this batch; any other id remembered during the attempt may belong to a
        # row the failed transaction rolled back (``_find_or_create`` remembers before it inserts)
        known = {k for k in first if k in self._ids}
        try:
            async with self.engine.begin() as conn:
                await self._touch(conn, last, names)
                missing = {k: p for k, p in first.items() if k not in self._ids}
                created = await self._find_or_create(conn, missing, last)
                # found by the lookup (not cached: after a restart): moved and renamed like the others
                found = {k: last[k] for k in missing if k not in created and k in self._ids}
                await self._touch(conn, found, names)
                await conn.execute(turn_t.insert(), self._attach(rows))
        except IntegrityError:
            # another writer (a replica) created one of these conversations first: those go the
            # slow way, one at a time, then the turns
            for k in first:
                if k not in known:
                    self._ids.pop(k, None)
            for k, p in first.items():
                if k not in self._ids:
                    self._remember(k, await self._conversation(k, p, last[k]))
            async with self.engine.begin() as conn:
                await conn.execute(turn_t.insert(), self._attach(rows))
        for k in first:
            self._ids.move_to_end(k)

    def _attach(self, rows: list[tuple[tuple[str, str, str], dict[str, Any]]]) -> list[dict[str, Any]]:
        for k, row in rows:
            row["conversation_id"] = self._ids[k][0]
        return [row for _, row in rows]

    async def _touch(self, conn: Any, last: dict[tuple[str, str, str], datetime],
                     names: dict[tuple[str, str, str], str] | None = None) -> None:
        """Move every known conversation's last activity to its newest turn of the batch (and its
        user's display name to the newest given), in one statement; forget those deleted
        meanwhile (their next turn starts a new conversation)."""
        known = {self._ids[k][0]: k for k in last if k in self._ids}
        if not known:
            return
        ended = sa.case({cid: last[key] for cid, key in known.items()}, value=conv_t.c.id)
        values: dict[str, Any] = {"ended_at": ended}
        named = {cid: names[key][:255] for cid, key in known.items() if names and names.get(key)}
        if named:
            values["user_name"] = sa.case(named, value=conv_t.c.id, else_=conv_t.c.user_name)
        done = await conn.execute(sa.update(conv_t).where(conv_t.c.id.in_(list(known))).values(**values))
        if done.rowcount != len(known):
            alive = {r[0] for r in await conn.execute(sa.select(conv_t.c.id).where(conv_t.c.id.in_(list(known))))}
            for cid, key in known.items():
                if cid not in alive:
                    del self._ids[key]
        for key in known.values():  # most recently used: the new ids remembered next never evict them
            if key in self._ids:
                self._ids.move_to_end(key)

    def _remember(self, key: tuple[str, str, str], ids: tuple[str, str]) -> None:
        self._ids[key] = ids
        while len(self._ids) > _CACHE:
            self._ids.popitem(last=False)

    async def _find_or_create(
        self, conn: Any, missing: dict[tuple[str, str, str], Probe], last: dict[tuple[str, str, str], datetime]
    ) -> list[tuple[str, str, str]]:
        """Find or create the conversations of ``missing`` (one lookup, one insert); the keys
        whose ids were created here (to forget if the transaction is rolled back)."""
        if not missing:
            return []
        # one IN over the session ids (a big OR of per-key ANDs costs SQLAlchemy far more to build),
        # the exact (app, owner, session) match is made here
        sessions = sorted({k[2] for k in missing})
        cols = (conv_t.c.id, conv_t.c.admin_id, conv_t.c.app_id, conv_t.c.owner, conv_t.c.session_id)
        for i in range(0, len(sessions), 500):
            found = await conn.execute(sa.select(*cols).where(conv_t.c.session_id.in_(sessions[i : i + 500])))
            for r in found:
                key = (str(r[2]), str(r[3]), str(r[4]))
                if key in missing:
                    self._remember(key, (str(r[0]), str(r[1])))
        new = {k: p for k, p in missing.items() if k not in self._ids}
        if not new:
            return []
        rows = [storable(self._new_row(k, p, last[k])) for k, p in new.items()]
        for key, row in zip(new, rows, strict=True):
            self._remember(key, (row["id"], row["admin_id"]))
        await conn.execute(conv_t.insert(), rows)
        return list(new)

    @staticmethod
    def _new_row(key: tuple[str, str, str], p: Probe, ended: datetime) -> dict[str, Any]:
        app_id, owner, session_id = key
        client_id, user_id = split_owner(owner, p.snapshot)
        client = p.snapshot.clients.get(client_id) if client_id else None
        return {
            "id": uuid.uuid4().hex, "admin_id": uuid.uuid4().hex, "app_id": app_id, "app_kind": p.app_kind,
            "app_name": p.app_name[:255], "owner": owner, "user_id": user_id[:255], "session_id": session_id,
            "client_id": client_id, "client_name": (getattr(client, "name", "") or "")[:255], "user_name": p.user_name,
            "source": p.source or _source(p, client_id), "surface": p.surface, "started_at": p.started,
            "ended_at": ended, "preview": preview(_redacted(message_text(p.message))), "summary": "",
        }

    async def _conversation(self, key: tuple[str, str, str], p: Probe, ended: datetime) -> tuple[str, str]:
        """(id, admin id) of the conversation of ``key``, created when absent (a race lost to
        another writer or replica reads the winner's row back)."""
        app_id, owner, session_id = key
        where = (conv_t.c.app_id == app_id, conv_t.c.owner == owner, conv_t.c.session_id == session_id)
        for _ in range(3):
            async with self.engine.begin() as conn:
                row = (await conn.execute(sa.select(conv_t.c.id, conv_t.c.admin_id).where(*where))).first()
                if row is not None:
                    named = {"user_name": p.user_name} if p.user_name else {}
                    await conn.execute(sa.update(conv_t).where(conv_t.c.id == row[0]).values(ended_at=ended, **named))
                    return str(row[0]), str(row[1])
            new = storable(self._new_row(key, p, ended))
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(conv_t.insert().values(**new))
                return new["id"], new["admin_id"]
            except IntegrityError:
                continue
        raise RuntimeError("could not create the audit conversation")

    # -- retention -------------------------------------------------------------------------------
    async def prune(self, settings: Any = None) -> int:
        """Apply ``retentionDays`` / ``maxTurns``; the number of turns deleted. Conversations left
        without turns go too."""
        days = int(getattr(settings, "retention_days", 0) or 0)
        max_turns = int(getattr(settings, "max_turns", 0) or 0)
        if not days and not max_turns:
            return 0
        await self.flush()
        deleted = 0
        async with self.engine.begin() as conn:
            if days:
                cutoff = datetime.now(UTC) - timedelta(days=days)
                deleted += (await conn.execute(sa.delete(turn_t).where(turn_t.c.at < cutoff))).rowcount or 0
            if max_turns:
                total = (await conn.execute(sa.select(sa.func.count()).select_from(turn_t))).scalar_one()
                extra = int(total) - max_turns
                if extra > 0:
                    oldest = sa.select(turn_t.c.id).order_by(turn_t.c.at, turn_t.c.id).limit(extra)
                    ids = [r[0] for r in (await conn.execute(oldest)).all()]
                    for i in range(0, len(ids), 500):
                        chunk = ids[i : i + 500]
                        deleted += (await conn.execute(sa.delete(turn_t).where(turn_t.c.id.in_(chunk)))).rowcount or 0
            if deleted:
                has_turns = sa.select(turn_t.c.id).where(turn_t.c.conversation_id == conv_t.c.id).exists()
                await conn.execute(sa.delete(conv_t).where(~has_turns))
        if deleted:
            self.forget()
            log.info("conversation audit: pruned %d turns", deleted)
        return deleted


def _source(p: Probe, client_id: str) -> str:
    """Magec's ``source``: the client's type, else what the surface is (``direct`` for the APIs)."""
    if client_id:
        client = p.snapshot.clients.get(client_id)
        if client is not None and client.type:
            return str(client.type)
    return _SOURCES.get(p.surface, "direct")


def _redacted(text: str) -> str:
    from magec.redact import redact

    return redact(text)


def storable(value: Any) -> Any:
    """``value`` (a row, at any depth) with every NUL character in its strings replaced by U+FFFD.

    Why: clients cannot send NUL (the JSON parser refuses it), but a turn's texts also come from
    the provider and from transcribed speech, and PostgreSQL's ``text`` and ``jsonb`` refuse it:
    one such answer failed the whole batch of turns it was written with."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value
