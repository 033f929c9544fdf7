"""Wrong-credential lockout counted across every process and replica of one install.

Contract (:class:`Lockout`):

* Five wrong credentials (the admin password, a metrics token) within a minute from one address
  (IPv6: one /64) lock that address out for the rest of the minute: every answer is 429 with
  ``Retry-After``, whether the credential it brings is right or wrong, so a locked-out guesser
  learns nothing from its further tries. An IPv6 /48 is counted too, with :data:`SITE_FACTOR`
  times the limit: one tunnel broker account is a /48, whose 65,536 /64s gave five guesses each.
* The count is the install's, not the process's: each failure is a row in ``auth_failures`` in the
  main database, which every ``magec serve --workers N`` process and every replica shares. Counted
  per process, N workers gave N × 5 guesses a minute (a load balancer or the kernel spreads a
  guesser's connections over them).
* In-process, the check and the record around a comparison run without an await in between
  (:meth:`Lockout.check`, :meth:`Lockout.fail`), so concurrent guesses on one process are counted
  exactly; across processes :meth:`Lockout.settle` records the failure first and then counts, so a
  guess whose row lands beyond the limit is answered 429 like any later one: at most the limit's
  worth of guesses a minute get an answer that tells right from wrong, however many are in flight.
* A request without credentials (a signed-out page load) is neither counted nor read for: it
  costs no database round trip. A request with credentials costs one read (a failure, one write).
* When the database cannot answer, the process's own count still holds (5 a minute per process),
  and the request goes on: an outage must not lock the operator out of the Admin API that shows it.
* Rows older than the window are deleted as failures are written (at most one purge a window per
  process), so the table holds at most a minute of failures.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import OrderedDict

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from magec.errors import RateLimitedError

log = logging.getLogger(__name__)

auth_metadata = sa.MetaData()

auth_failures = sa.Table(
    "auth_failures",
    auth_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # "<what was guessed>:<address or /64>"
    sa.Column("key", sa.String(120), nullable=False),
    # seconds since the epoch (UTC): the replicas' clocks, as leases use them
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_auth_failures_key_at", "key", "at"),
)

LOCKED = "too many failed authentication attempts; try again later"
#: an IPv6 /48 (one site: a tunnel broker's or an ISP's customer allocation) may fail this many
#: times the per-address limit; counted per /64 alone, a /48 was 65,536 addresses' worth of guesses
SITE_FACTOR = 4


class FailureLimiter:
    """Counts failures per key in a sliding window; ``check`` raises 429 when over the limit.

    Bounded: at most ``max_keys`` keys, each holding at most ``limit`` timestamps.
    """

    def __init__(self, limit: int = 5, window: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        # least recently failed first; a tuple of at most `limit` times is a few dozen bytes
        self._failures: OrderedDict[str, tuple[float, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def _recent(self, key: str, now: float) -> tuple[float, ...]:
        times = self._failures.get(key, ())
        return tuple(t for t in times if now - t <= self.window)

    @staticmethod
    def normal_key(key: str) -> str:
        """The key counted for ``key``: an IPv6 address counts as its /64."""
        return FailureLimiter.counted(key, 1)[0][0]

    @staticmethod
    def counted(key: str, limit: int) -> list[tuple[str, int]]:
        """Each ``(key, limit)`` a failure from ``key`` counts towards: the address (an IPv6 one
        as its /64: one host is usually handed a whole /64, counted per address it could guess
        for ever), and for IPv6 its /48 with :data:`SITE_FACTOR` × ``limit``."""
        try:
            ip = ipaddress.ip_address(key.strip().strip("[]"))
        except ValueError:
            return [(key, limit)]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
            return [(str(ipaddress.IPv6Network((int(ip) >> bits << bits, 128 - bits))), n)
                    for bits, n in ((64, limit), (80, SITE_FACTOR * limit))]
        return [(key, limit)]

    def check(self, key: str) -> None:
        now = time.monotonic()
        for counted, limit in self.counted(key, self.limit):
            times = self._recent(counted, now)
            if len(times) >= limit:
                retry = max(1, int(self.window - (now - times[-limit])) + 1)
                raise RateLimitedError(LOCKED, retry_after=retry)

    def fail(self, key: str) -> None:
        now = time.monotonic()
        for counted, limit in self.counted(key, self.limit):
            times = (*self._recent(counted, now), now)[-limit:]
            self._failures.pop(counted, None)
            if len(self._failures) >= self.max_keys:
                self._evict(now)
            self._failures[counted] = times

    def _evict(self, now: float) -> None:
        # oldest last-failure first: expired keys sit at the front, so stop at the first live one
        while self._failures:
            key, times = next(iter(self._failures.items()))
            if now - times[-1] > self.window or len(self._failures) >= self.max_keys:
                del self._failures[key]
            else:
                break

    def reset(self, key: str) -> None:
        for counted, _ in self.counted(key, self.limit):
            self._failures.pop(counted, None)


class Lockout:
    """A :class:`FailureLimiter` for this process, backed by ``auth_failures`` for the install.

    ``scope`` names what is guessed (the admin password and the admin port's metrics tokens share
    one, so a password tried on ``/metrics`` counts like one tried on ``/api``).
    """

    def __init__(self, scope: str, engine: AsyncEngine | None = None, *, limit: int = 5, window: float = 60.0,
                 max_keys: int = 10_000) -> None:
        self.scope = scope
        self.engine = engine
        self.local = FailureLimiter(limit, window, max_keys)
        self._purged = 0.0

    @property
    def limit(self) -> int:
        return self.local.limit

    @property
    def window(self) -> float:
        return self.local.window

    def check(self, key: str) -> None:
        """Raise 429 when this process alone has seen the limit's worth of failures (no I/O)."""
        self.local.check(key)

    def fail(self, key: str) -> None:
        """Count a failure in this process (no I/O; :meth:`settle` writes it for the others)."""
        self.local.fail(key)

    async def judge(self, key: str, *, presented: bool, right: bool) -> None:
        """After a credential was compared: count it (``presented``: the request brought one) and
        raise 429 when ``key`` is locked out, for the install (see the module contract). A request
        that brought none is neither counted nor read for."""
        if not presented:
            return
        if not right:
            self.fail(key)  # before any await: this process's count stays exact
        await self.settle(key, failed=not right)

    async def settle(self, key: str, *, failed: bool) -> None:
        """After a credential was compared: write the failure (when ``failed``) and raise 429 when
        the install's failures before this attempt reached the limit (see the module contract)."""
        if self.engine is None:
            return
        names = [(f"{self.scope}:{counted}"[:120], limit) for counted, limit in FailureLimiter.counted(key, self.limit)]
        now = time.time()
        since = now - self.window
        try:
            if failed:
                async with self.engine.begin() as conn:
                    if now - self._purged >= self.window:
                        self._purged = now
                        await conn.execute(sa.delete(auth_failures).where(auth_failures.c.at < since))
                    await conn.execute(sa.insert(auth_failures), [{"key": name, "at": now} for name, _ in names])
                    seen = [await self._newest(conn, name, since, limit) for name, limit in names]
            else:
                async with self.engine.connect() as conn:
                    seen = [await self._newest(conn, name, since, limit) for name, limit in names]
        except (SQLAlchemyError, OSError) as err:
            log.debug("auth lockout: the shared count is unavailable (%s); this process's count holds",
                      type(err).__name__)
            return
        for times, (_, limit) in zip(seen, names, strict=True):
            if failed and now in times:
                times.remove(now)  # this attempt's own row: what counts is what came before it
            if len(times) >= limit:
                # locked until fewer than `limit` failures are left in the window
                retry = max(1, int(self.window - (now - times[limit - 1])) + 1)
                raise RateLimitedError(LOCKED, retry_after=retry)

    @staticmethod
    async def _newest(conn: AsyncConnection, name: str, since: float, limit: int) -> list[float]:
        rows = await conn.execute(
            sa.select(auth_failures.c.at)
            .where(auth_failures.c.key == name, auth_failures.c.at > since)
            .order_by(auth_failures.c.at.desc())
            .limit(limit + 1)
        )
        return [float(t) for t in rows.scalars()]
