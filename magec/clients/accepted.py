"""Accepted runs: a webhook's ``202`` is written down before it is sent, so a crash cannot lose it.

Contract (one row per accepted run in ``accepted_runs``, :mod:`magec.clients.tables`):

* :meth:`AcceptedRuns.accept` records the run (its callback URL encrypted: a receiver's URL may
  carry a token) *before* the caller is told ``202``; when the row cannot be written the caller
  gets a ``503`` instead (nothing is promised that is not on disk).
* :meth:`AcceptedRuns.done` deletes the row once the result was handed to the callback (or the
  callback refused it for good). A process that is stopping keeps the row of a run whose last
  "send it again" callback could not be delivered, for the next process to deliver.
* The owning process renews its rows' lease (``expires_at``) while they run (:meth:`keep`).
* :meth:`AcceptedRuns.orphans` claims the rows nobody looks after any more: a lease that expired
  (the process died or hung, on any replica), and at once — without waiting for the expiry — rows
  of a process of this host that no longer exists (a crash and restart on one machine; a
  container restarted with the same pid waits for the expiry). The
  claim is one conditional ``UPDATE`` per row, so two replicas never both claim one run.
  A claimed run's callback is told ``unavailable`` ("send it again"): the run may have done part
  of its work (tool calls), so magec does not silently run it twice; the caller decides.
* A run whose caller could not be told is tried again each round, for :data:`MAX_AGE`.
* Time is the replicas' UTC clock (as :mod:`magec.clients.lease`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.clients.lease import process_gone, process_owner
from magec.clients.tables import accepted_runs
from magec.redact import redact
from magec.store.crypto import Cipher
from magec.store.tables import as_utc

log = logging.getLogger(__name__)

#: seconds an owner's rows stay its own without a renewal
TTL = 30.0
#: an orphan whose caller could not be told for this long is given up (logged)
MAX_AGE = timedelta(days=1)


@dataclass(frozen=True)
class Orphan:
    """An accepted run whose process is gone, claimed by this one to tell its caller."""

    run_id: str
    client_id: str
    callback: str
    session: str


class AcceptedRuns:
    def __init__(self, engine: AsyncEngine, cipher: Cipher, owner: str | None = None, ttl: float = TTL) -> None:
        self.engine = engine
        self.cipher = cipher
        self.owner = owner or process_owner()
        self.ttl = ttl
        self._mine: set[str] = set()

    def _until(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.ttl)

    async def accept(self, run_id: str, client_id: str, callback: str, session: str) -> None:
        """Write the run down (raises when the database cannot take it: answer 503, not 202)."""
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            await conn.execute(
                accepted_runs.insert().values(
                    run_id=run_id,
                    client_id=client_id,
                    callback=self.cipher.encrypt(callback),
                    session=session,
                    owner=self.owner,
                    expires_at=self._until(),
                    accepted_at=now,
                )
            )
        self._mine.add(run_id)

    async def done(self, run_id: str) -> None:
        """The run's caller has its answer (or refused it for good): forget the run."""
        self._mine.discard(run_id)
        t = accepted_runs
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(t).where(t.c.run_id == run_id))

    def release(self, run_id: str) -> None:
        """Stop renewing ``run_id`` but keep its row: another process (or the next start) tells
        its caller once the lease has expired."""
        self._mine.discard(run_id)

    async def keep(self) -> None:
        """Renew the lease of this process's runs (nothing to do when it has none)."""
        if not self._mine:
            return
        t = accepted_runs
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(t).where(t.c.run_id.in_(list(self._mine))).values(expires_at=self._until()))

    async def orphans(self) -> list[Orphan]:
        """Claim the runs nobody looks after (see the module contract)."""
        t = accepted_runs
        now = datetime.now(UTC)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(t.c.run_id, t.c.owner, t.c.expires_at, t.c.accepted_at))).all()
        claimed: list[Orphan] = []
        for run_id, owner, expires, accepted in rows:
            if run_id in self._mine:  # being answered here
                continue
            expired = as_utc(expires) < now
            if not expired and not process_gone(str(owner), self.owner):
                continue
            if expired and as_utc(accepted) < now - MAX_AGE:
                log.warning("accepted run %s: its caller could not be told for a day; given up", run_id)
                await self.done(str(run_id))
                continue
            async with self.engine.begin() as conn:
                # the owner we read is the condition: of two replicas claiming, one changes the row
                won = await conn.execute(
                    sa.update(t).where(t.c.run_id == run_id, t.c.owner == owner).values(owner=self.owner, expires_at=self._until())
                )
                if not won.rowcount:
                    continue
                row = (await conn.execute(sa.select(t.c.client_id, t.c.callback, t.c.session).where(t.c.run_id == run_id))).one()
            try:
                callback = self.cipher.decrypt(str(row[1]))
            except Exception as err:  # another encryption key: nobody can tell this caller any more
                log.warning("accepted run %s: its callback cannot be read (%s); dropped", run_id, redact(str(err)))
                await self.done(run_id)
                continue
            self._mine.add(run_id)
            claimed.append(Orphan(str(run_id), str(row[0]), callback, str(row[2])))
        return claimed

    async def run(self, tell: Callable[[Orphan], Awaitable[bool]], every: float | None = None) -> None:
        """Forever: renew this process's leases and tell the callers of orphaned runs (``tell``
        answers True when the caller got it; else the run is tried again on a later round)."""
        every = every if every is not None else self.ttl / 3
        while True:
            try:
                await self.keep()
                for orphan in await self.orphans():
                    if await tell(orphan):
                        await self.done(orphan.run_id)
                    else:
                        self.release(orphan.run_id)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a database hiccup: the next round tries again
                log.warning("accepted webhook runs: %s", redact(str(err)))
            await asyncio.sleep(every)
