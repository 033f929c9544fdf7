"""Cron clients: a worker (under the supervisor) that sends a command's prompt on a schedule.

Contract of :func:`run` (a :data:`~magec.clients.workers.Worker`):

* ``config.cron``: ``schedule`` (:mod:`magec.clients.cronexpr`: 5 fields, ``@daily``-style macros,
  and the extensions ``@every 30s`` / a leading seconds field), ``commandId``, ``timezone`` (IANA,
  default UTC), ``missedRuns`` (``once`` | ``skip``, default ``once``), ``missedRunsWindow``
  (seconds, default 86400), ``keepRuns`` (run rows kept, default :data:`KEEP_RUNS`: older ones are
  deleted as each new run is claimed; ``runs`` in the status still counts every run).
* At each slot the command's prompt (read at fire time, as of every write committed before it on
  any replica or worker process, so an edited command applies at once; ``{{body…}}`` placeholders
  of a command written for webhooks are empty: :func:`~magec.clients.commands.render_command`) is
  sent through :meth:`~magec.clients.conversation.Conversations.ask_each` to every agent and flow
  in the client's ``allowedAgents``, one after the other, as Magec's executor does (the answers
  joined with ``\n---\n``), each in a session of its own per run (conversation ``cron-<slot>``,
  user ``cron``).
* **Exactly once.** A slot is claimed by inserting ``(clientId, slot)`` into ``client_runs`` before it
  runs; a replica that loses that insert does not run it. With the supervisor's lease only one
  replica schedules at a time, and a replica taking over mid-slot cannot fire the slot again. A
  replica that dies between claiming a slot and its answer loses that one run (at most once,
  never twice): the next worker records it failed, ``lastResult`` saying it was interrupted.
* **Missed runs** (downtime, a lease hand-over): the worker records up to when it looked after the
  schedule (``client_cron_state.checked_through``: on start, before it shows as connected, at
  every wake-up, and when it is stopped). On start, if slots of the *same*
  schedule fell between that moment and now, ``missedRuns: once`` runs the latest of them once
  — when it is at most ``missedRunsWindow`` seconds old — and ``skip`` drops them. Slots before
  the client was last saved are never made up (a changed schedule, a re-enabled client); a slot
  between that save and the worker's start (start-up lag) runs once whatever the policy.
* Status (``WorkerStatus.extra``): ``nextRun``, ``lastRun``, ``lastResult`` (the answer, cut to
  500 characters, or the error), ``lastOk``, ``schedule``. Runs never overlap: slots that pass
  while a run is still going are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.clients import cronexpr
from magec.clients.commands import render_command
from magec.clients.conversation import Inbound
from magec.clients.tables import client_cron_state, client_runs
from magec.clients.workers import WorkerContext
from magec.store.tables import as_utc, resources

log = logging.getLogger(__name__)

#: the longest sleep between two checks of the clock (a suspended host, a changed clock)
_MAX_SLEEP = 30.0
#: how many slots a catch-up walks at most (an ``@every 1s`` job down for a day)
_MAX_WALK = 100_000
RESULT_CHARS = 500
#: run rows kept per client by default (``config.cron.keepRuns``)
KEEP_RUNS = 1000


def _now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def section(config: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = config.get("cron")
    return inner if isinstance(inner, Mapping) else config


async def claim(engine: AsyncEngine, client_id: str, slot: datetime, owner: str, keep: int = KEEP_RUNS) -> bool:
    """Record that ``slot`` fires now; False when it was already fired (by any replica). The row
    is numbered after the client's previous runs, and rows older than the latest ``keep`` go in
    the same transaction (runs never overlap, so those are finished)."""
    t = client_runs
    try:
        async with engine.begin() as conn:
            r = resources
            if (await conn.execute(sa.select(r.c.id).where(r.c.kind == "clients", r.c.id == client_id))).first() is None:
                return False  # deleted meanwhile: its runs went with it, none is added back
            # at most ``keep`` rows of this client, found by the primary key's prefix
            seq = (await conn.execute(sa.select(sa.func.max(t.c.seq)).where(t.c.client_id == client_id))).scalar()
            await conn.execute(sa.insert(t).values(client_id=client_id, slot=slot, owner=owner, fired_at=_now(),
                                                   result="", seq=int(seq or 0) + 1))
            oldest_kept = (
                sa.select(t.c.slot).where(t.c.client_id == client_id)
                .order_by(t.c.slot.desc()).offset(max(keep, 1) - 1).limit(1).scalar_subquery()
            )
            await conn.execute(sa.delete(t).where(t.c.client_id == client_id, t.c.slot < oldest_kept))
        return True
    except IntegrityError:
        return False


async def finish(engine: AsyncEngine, client_id: str, slot: datetime, ok: bool, result: str) -> None:
    t = client_runs
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(t)
            .where(t.c.client_id == client_id, t.c.slot == slot)
            .values(finished_at=_now(), ok=ok, result=result[:4000])
        )


#: the result of a run its process did not finish (a crash, a stop past the grace period)
INTERRUPTED = "interrupted: magec stopped while this run was going; it is not run again"


async def close_interrupted(engine: AsyncEngine, client_id: str) -> int:
    """Record the runs of ``client_id`` that never finished as failed (:data:`INTERRUPTED`).
    Called by a worker as it starts: it holds the client's lease, so an unfinished run is a
    previous worker's (at most once: such a run is not fired again). How many there were."""
    t = client_runs
    async with engine.begin() as conn:
        changed = await conn.execute(
            sa.update(t)
            .where(t.c.client_id == client_id, t.c.finished_at.is_(None))
            .values(finished_at=_now(), ok=False, result=INTERRUPTED)
        )
    return int(changed.rowcount or 0)


async def last_run(engine: AsyncEngine, client_id: str) -> dict[str, Any] | None:
    """The latest fired slot of ``client_id``: ``{lastRun, lastOk, lastResult}`` (None: never)."""
    t = client_runs
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(t.c.slot, t.c.ok, t.c.result, t.c.finished_at)
                .where(t.c.client_id == client_id)
                .order_by(t.c.slot.desc())
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    return {"lastRun": iso(as_utc(row[0])), "lastOk": row[1], "lastResult": (row[2] or "")[:RESULT_CHARS]}


async def run_count(engine: AsyncEngine, client_id: str) -> int:
    """How many runs ``client_id`` ever fired (the Admin API's ``runs``): the newest row's number,
    read from at most ``keepRuns`` rows, never a count of them."""
    t = client_runs
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.max(t.c.seq)).where(t.c.client_id == client_id))).scalar() or 0)


async def _checkpoint(engine: AsyncEngine, client_id: str, schedule: str, at: datetime) -> None:
    t = client_cron_state
    update = sa.update(t).where(t.c.client_id == client_id).values(schedule=schedule, checked_through=at)
    async with engine.begin() as conn:
        if (await conn.execute(update)).rowcount:
            return
    # the first checkpoint. Each step is its own transaction: a SAVEPOINT around the insert was
    # silently not kept on SQLite (pysqlite's transaction handling), losing every first checkpoint.
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(t).values(client_id=client_id, schedule=schedule, checked_through=at))
    except IntegrityError:  # another replica wrote the first one meanwhile
        async with engine.begin() as conn:
            await conn.execute(update)


async def _saved_at(engine: AsyncEngine, client_id: str) -> datetime | None:
    """When the client's row was last saved (its schedule is in force since then)."""
    t = resources
    async with engine.connect() as conn:
        row = (
            await conn.execute(sa.select(t.c.updated_at).where(t.c.kind == "clients", t.c.id == client_id))
        ).first()
    return as_utc(row[0]) if row is not None else None


async def _state(engine: AsyncEngine, client_id: str) -> tuple[str, datetime] | None:
    t = client_cron_state
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(t.c.schedule, t.c.checked_through).where(t.c.client_id == client_id))).first()
    return (str(row[0]), as_utc(row[1])) if row is not None else None


def missed_slot(expr: cronexpr.CronExpr, tz: Any, since: datetime, now: datetime) -> datetime | None:
    """The latest slot in ``(since, now]``, or None."""
    slot = expr.next_after(since, tz)
    if slot > now:
        return None
    if expr.every:  # fixed interval: the latest slot is arithmetic
        return datetime.fromtimestamp(int(now.timestamp()) // expr.every * expr.every, UTC)
    latest = slot
    for _ in range(_MAX_WALK):
        slot = expr.next_after(slot, tz)
        if slot > now:
            break
        latest = slot
    return latest


class CronJob:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        cfg = section(ctx.config)
        self.schedule = str(cfg.get("schedule") or "")
        self.expr = cronexpr.parse(self.schedule)  # ValueError → the supervisor shows it
        self.tz = cronexpr.timezone(cfg.get("timezone"))
        self.command_id = str(cfg.get("commandId") or "")
        self.policy = str(cfg.get("missedRuns") or "once")
        self.window = float(cfg.get("missedRunsWindow", 86400) or 0)
        self.keep = int(cfg.get("keepRuns") or KEEP_RUNS)
        conv_ctx = ctx.conversations.ctx
        self.engine: AsyncEngine = conv_ctx.store.engine
        self.owner = ctx.replica or "?"

    async def _prompt(self) -> str:
        manager = self.ctx.conversations.ctx.runtime
        assert manager is not None
        # as of every write committed before the slot, on any replica or worker process: the
        # runtime this process last caught up with may be up to a poll older (an edit answered by
        # another worker a moment before the slot was not sent)
        command = (await manager.fresh()).snapshot.commands.get(self.command_id)
        if command is None:
            raise ValueError(f"command {self.command_id!r} not found")
        if not command.prompt.strip():
            raise ValueError(f"command {self.command_id!r} has an empty prompt")
        return render_command(command.prompt, None)  # a command written for webhooks: no body here

    async def fire(self, slot: datetime) -> None:
        """Claim and run ``slot`` (nothing when another replica already fired it)."""
        cid = self.ctx.client_id
        if not await claim(self.engine, cid, slot, self.owner, self.keep):
            return
        status = self.ctx.status
        status.extra["lastRun"] = iso(slot)
        try:
            prompt = await self._prompt()
            out = await self.ctx.conversations.ask_each(
                cid, Inbound(conversation=f"cron-{slot:%Y%m%dT%H%M%SZ}", user="cron", text=prompt)
            )
            ok = out.error_code is None
            result = out.text if ok else f"{out.error_code}: {out.error_message}"
        except Exception as err:  # noqa: BLE001 - recorded as the run's result
            ok, result = False, f"error: {err}"
        # the next slot is reported with this run's result: a client that sees the run done never
        # sees it still due (the loop below sets the same slot once the run is on record)
        status.extra["nextRun"] = iso(self.expr.next_after(max(slot, _now()), self.tz))
        status.extra["lastOk"] = ok
        status.extra["lastResult"] = result[:RESULT_CHARS]
        if ok:
            status.message_seen()
        else:
            status.failed(result)
        await finish(self.engine, cid, slot, ok, result)

    async def _catch_up(self, now: datetime) -> None:
        """Run a slot that fell before this start, per the contract's missed-runs rules."""
        cid = self.ctx.client_id
        state = await _state(self.engine, cid)
        checked = state[1] if state is not None and state[0] == self.schedule else None
        saved = await _saved_at(self.engine, cid)
        if saved is not None and (checked is None or saved > checked):
            since, lag = saved, True  # the schedule (or the client) was saved after the last check
        elif checked is not None:
            since, lag = checked, False  # downtime or a hand-over: the policy decides
        else:
            return
        if not lag and self.policy != "once":
            return
        slot = missed_slot(self.expr, self.tz, since, now)
        if slot is not None and (now - slot).total_seconds() <= self.window:
            log.info("cron client %s: running the slot %s it missed on start", cid, iso(slot))
            await self.fire(slot)

    async def run(self) -> None:
        cid = self.ctx.client_id
        status = self.ctx.status
        status.extra["schedule"] = self.schedule
        if await close_interrupted(self.engine, cid):
            log.warning("cron client %s: a run was interrupted by a stop or crash (not run again)", cid)
        previous = await last_run(self.engine, cid)
        if previous is not None:
            status.extra.update(previous)
        now = _now()
        await self._catch_up(now)
        cursor = now
        # on record before the worker shows as connected: a stop right after a start is downtime
        # from then on, not start-up lag
        await _checkpoint(self.engine, cid, self.schedule, cursor)
        status.connected(None)
        slot = self.expr.next_after(cursor, self.tz)
        try:
            while True:
                status.extra["nextRun"] = iso(slot)
                while True:
                    wait = (slot - _now()).total_seconds()
                    if wait <= 0:
                        break
                    await asyncio.sleep(min(wait, _MAX_SLEEP))
                    if wait > _MAX_SLEEP:
                        await _checkpoint(self.engine, cid, self.schedule, _now() - timedelta(seconds=1))
                await self.fire(slot)
                # runs never overlap: slots that passed while this one ran are skipped
                cursor = max(slot, _now())
                await _checkpoint(self.engine, cid, self.schedule, cursor)
                slot = self.expr.next_after(cursor, self.tz)
        except asyncio.CancelledError:
            # stopped (shutdown, disabled, edited): looked after up to now — but never past the
            # next slot, which must stay "missed" if it has not been claimed yet
            through = min(_now(), slot - timedelta(microseconds=1))
            with contextlib.suppress(Exception):
                await asyncio.shield(_checkpoint(self.engine, cid, self.schedule, through))
            raise


async def run(ctx: WorkerContext) -> None:
    """The cron worker (see the module contract)."""
    await CronJob(ctx).run()
