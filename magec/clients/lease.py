"""Leases: at most one replica runs a job (a bot poller, a cron schedule) at a time.

Contract (one row per job in ``client_leases``, :mod:`magec.clients.tables`):

* :meth:`Leases.acquire` takes the lease when nobody holds it, renews it when this replica holds it,
  or takes it over when the holder let it expire (its replica died or hung); it answers whether this
  replica holds the lease now, valid until ``now + ttl``. Taking and renewing are one conditional
  ``UPDATE … WHERE owner = me OR expires_at < now`` (or an ``INSERT`` racing on the primary key), so
  two replicas can never both succeed for the same moment on one database.
* A holder that cannot renew (database unreachable) must stop the job before its lease expires:
  :meth:`Leases.valid_until` tells the supervisor until when its last successful renewal holds.
* :meth:`Leases.release` gives a lease back at once (clean stop, client disabled or deleted), so
  another replica does not wait for the expiry.
* A lease whose holder is a process of this host that no longer runs (:func:`process_gone`: a
  crash and restart on one machine) is taken over at once, without waiting for its expiry; the
  take-over is conditional on that holder, so two starting processes never both get it. "This
  host" is the host name *and* the PID namespace and boot (:func:`this_host`): two containers with
  one host name (host networking, a fixed ``hostname:``) or two machines of one name cannot see
  each other's pids, and a pid missing here says nothing of a process there.
* Time is the replicas' UTC clock (replicas are expected to run NTP); the TTL absorbs small skew.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.clients.tables import client_leases
from magec.store.tables import as_utc


@functools.cache
def this_host() -> str:
    """Where a pid means the same process: ``<host name>/<tag>``, the tag a digest of this PID
    namespace and boot (Linux), so processes that share a host name but not their pids (containers
    with host networking, a compose ``hostname:``, machines named alike) are not "this host" to
    each other. Only the host name where there is no ``/proc``."""
    name = socket.gethostname()[:48]
    try:
        where = f"{os.readlink('/proc/self/ns/pid')}|{Path('/proc/sys/kernel/random/boot_id').read_text().strip()}"
    except OSError:
        return name
    return f"{name}/{hashlib.sha256(where.encode()).hexdigest()[:8]}"


def process_owner() -> str:
    """``<host>:<pid>:<random>`` (``<host>``: :func:`this_host`): the host and pid let a restarted
    process on the same machine see at once that the owner of a row is gone (the random part tells
    a reused pid apart)."""
    return f"{this_host()}:{os.getpid()}:{secrets.token_hex(4)}"


def process_gone(owner: str, me: str) -> bool:
    """True when ``owner`` names a process of this host (:func:`this_host`) that no longer runs."""
    host, pid_text, _ = ([*owner.rsplit(":", 2), "", ""])[:3]
    if owner == me or host != this_host() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        # another owner in this very process (two apps in one test process), or an earlier life of
        # this pid (a container restarted as pid 1): only the lease's expiry tells them apart
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _now() -> datetime:
    return datetime.now(UTC)


class Leases:
    def __init__(self, engine: AsyncEngine, owner: str, ttl: float) -> None:
        self.engine = engine
        self.owner = owner
        self.ttl = ttl
        #: lease name -> monotonic time until which our last renewal holds
        self._valid: dict[str, float] = {}

    async def acquire(self, name: str) -> bool:
        """Take, renew or take over ``name``; True when this replica holds it now."""
        t = client_leases
        started = time.monotonic()
        now = _now()
        until = now + timedelta(seconds=self.ttl)
        async with self.engine.begin() as conn:
            done = await conn.execute(
                sa.update(t)
                .where(t.c.name == name, sa.or_(t.c.owner == self.owner, t.c.expires_at < now))
                .values(owner=self.owner, expires_at=until)
            )
            held = bool(done.rowcount)
        if not held:
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(
                        sa.insert(t).values(name=name, owner=self.owner, expires_at=until, acquired_at=now)
                    )
                held = True
            except IntegrityError:
                held = await self._take_from_the_dead(name, until)  # someone holds it (or just inserted it)
        if held:
            self._valid[name] = started + self.ttl
        else:
            self._valid.pop(name, None)
        return held

    async def _take_from_the_dead(self, name: str, until: datetime) -> bool:
        """Take ``name`` over when its holder is a process of this host that is gone (a crash and
        restart): its bots and schedules need not wait for the expiry."""
        holder = await self.holder(name)
        if holder is None or not process_gone(holder[0], self.owner):
            return False
        t = client_leases
        async with self.engine.begin() as conn:
            done = await conn.execute(sa.update(t).where(t.c.name == name, t.c.owner == holder[0])
                                      .values(owner=self.owner, expires_at=until))
        return bool(done.rowcount)

    def valid_until(self, name: str) -> float:
        """Monotonic time until which this replica's last renewal of ``name`` holds (0: not held)."""
        return self._valid.get(name, 0.0)

    async def release(self, name: str) -> None:
        self._valid.pop(name, None)
        t = client_leases
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(t).where(t.c.name == name, t.c.owner == self.owner))

    async def live_holder(self, name: str) -> str | None:
        """Who holds ``name`` now: None when nobody does, the lease expired or its holder is a
        process of this host that is gone."""
        held = await self.holder(name)
        if held is None or held[1] < _now() or process_gone(held[0], self.owner):
            return None
        return held[0]

    async def holder(self, name: str) -> tuple[str, datetime] | None:
        """(owner, expiry) of ``name``'s lease, expired or not; None when there is no row."""
        t = client_leases
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.c.owner, t.c.expires_at).where(t.c.name == name))).first()
        return (str(row[0]), as_utc(row[1])) if row is not None else None
