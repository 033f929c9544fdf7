"""Following the config epoch of every instance sharing the database (a mixin of :class:`Store`).

Contract:
* :meth:`EpochFollower.observe_epoch` only moves :attr:`epoch` forward and then notifies the
  store's subscribers (the runtime catches up).
* :meth:`EpochFollower.watch_epoch` runs until cancelled: on PostgreSQL a dedicated asyncpg
  connection ``LISTEN``s on :data:`NOTIFY_CHANNEL` (the store sends ``NOTIFY`` in every write
  transaction), and a poll every ``interval`` seconds covers SQLite and lost notifications.
* :meth:`EpochFollower.shared_epoch` is the newest epoch committed anywhere before the call (one
  coalesced ``SELECT`` on PostgreSQL; on SQLite one read of the :class:`EpochBoard` that every
  process using the same database file publishes its commits to, about a microsecond): what a user
  request must not be behind.
* :class:`EpochBoard` (SQLite files only): an 8-byte counter in a memory-mapped file next to the
  database (``<db>-epoch``), raised by each process after its commit and before the write is
  answered, so ``magec serve --workers N`` gives read-your-writes across its processes without a
  query per request. It only ever grows (``max`` under an exclusive ``flock``).

Why a separate module: the store's own job is transactions over rows; this is the replication
side of it, with its own concurrency (one read in flight, one queued behind it).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import mmap
import os
import struct
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.store.tables import config_state

log = logging.getLogger("magec.store.store")

#: PostgreSQL channel carrying the new epoch after every committed config change
NOTIFY_CHANNEL = "magec_config_epoch"


class EpochFollower:
    """What :class:`~magec.store.store.Store` provides: ``engine``, ``epoch``, ``is_postgres``,
    ``_notify()``; what it initialises: ``_epoch_read = _epoch_next = None``."""

    engine: AsyncEngine
    epoch: int
    is_postgres: bool
    #: shared_epoch(): the read in flight, and the future of the read queued behind it
    _epoch_read: asyncio.Task[int] | None
    _epoch_next: asyncio.Future[int] | None
    #: SQLite: the epoch board shared with the other processes on the same database file
    board: EpochBoard | None = None

    def _notify(self) -> None:
        raise NotImplementedError

    async def read_epoch(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(sa.select(config_state.c.epoch))).scalar_one())

    async def shared_epoch(self) -> int:
        """The newest committed epoch of *every* instance, as of a read that started after this call.

        Single process (SQLite): :attr:`epoch` is already that. Shared database (PostgreSQL):
        one ``SELECT epoch`` that began after the call — concurrent callers share reads (one in
        flight; callers arriving meanwhile wait for the next one), so a burst of requests costs
        one round trip, not one each. A failed read answers the last known epoch (requests keep
        being served; the listener and the poll catch up later)."""
        if not self.is_postgres:
            if self.board is not None:
                # another worker's commit, published before it answered: catch up from the database
                return max(self.epoch, self.board.read())
            return self.epoch
        if self._epoch_read is None:
            fut: asyncio.Future[int] = self._start_epoch_read()
        else:
            if self._epoch_next is None:
                self._epoch_next = asyncio.get_running_loop().create_future()
            fut = self._epoch_next
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - see the docstring
            return self.epoch

    def _start_epoch_read(self) -> asyncio.Task[int]:
        task = asyncio.ensure_future(self._read_epoch_once())
        self._epoch_read = task
        return task

    async def _read_epoch_once(self) -> int:
        try:
            epoch = await self.read_epoch()
            self.observe_epoch(epoch)
            return max(epoch, self.epoch)
        finally:
            self._epoch_read = None
            waiting, self._epoch_next = self._epoch_next, None
            if waiting is not None:
                self._start_epoch_read().add_done_callback(functools.partial(_settle, waiting))

    def observe_epoch(self, epoch: int) -> None:
        """Another instance committed ``epoch`` (notification or poll): move forward and notify."""
        # Only move forward: our own write bumps self.epoch just before its commit is visible.
        if epoch > self.epoch:
            self.epoch = epoch
            self._notify()

    async def watch_epoch(self, interval: float = 1.0) -> None:
        """Follow other instances' writes until cancelled: PostgreSQL pushes each new epoch with
        ``LISTEN/NOTIFY`` (milliseconds); the poll every ``interval`` seconds is the fallback for
        SQLite and for notifications lost while the listening connection was down."""
        listener = asyncio.create_task(self._listen()) if self.is_postgres else None
        try:
            while True:
                await asyncio.sleep(interval)
                with contextlib.suppress(Exception):
                    self.observe_epoch(await self.read_epoch())
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(BaseException):
                    await listener

    async def _listen(self) -> None:
        """One dedicated asyncpg connection LISTENing on :data:`NOTIFY_CHANNEL`; reconnects on loss."""
        import asyncpg  # PostgreSQL only: the asyncpg driver is what the engine uses

        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        delay = 0.5
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(
                    NOTIFY_CHANNEL, lambda _c, _pid, _ch, payload: self.observe_epoch(int(payload))
                )
                # Anything committed while we were not listening.
                self.observe_epoch(int(await conn.fetchval("SELECT epoch FROM config_state WHERE id = 1")))
                delay = 0.5
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - keep trying; the poll covers the gap
                log.warning("config change listener: %s; retrying in %.1fs", e, delay)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


class EpochBoard:
    """The newest committed config epoch of every process on one SQLite database file.

    One page-sized file (``<database>-epoch``, mode 0600) mapped into each process. The counter is
    written under an exclusive ``flock`` so two writers never lower it, and read lock-free (two
    reads that agree; under a shared ``flock`` when they do not); each is a few microseconds. A
    process that never publishes (an older magec, a CLI tool) is still followed by the 1 s poll of
    the database."""

    SIZE = 4096
    _FMT = "<q"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < self.SIZE:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    if os.fstat(fd).st_size < self.SIZE:
                        os.ftruncate(fd, self.SIZE)  # zero-filled: epoch 0
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            self._map = mmap.mmap(fd, self.SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    @classmethod
    def for_database(cls, url: str) -> EpochBoard | None:
        """The board of a SQLite *file* database URL; ``None`` for PostgreSQL or in-memory SQLite."""
        if not url.startswith("sqlite") or ":memory:" in url or "mode=memory" in url or "///" not in url:
            return None  # an in-memory database is one process's own: nothing to share
        db = Path(url.split("///", 1)[1].split("?", 1)[0])
        if not db.name:
            return None
        return cls(db.with_name(db.name + "-epoch"))

    def read(self) -> int:
        # Every request reads the board (twice), so without the lock's two syscalls when two reads
        # agree: the aligned 8-byte counter is written in one store on the platforms we run on
        # (x86-64, arm64), so a read is not torn, and a second read that agrees makes one unlikely
        # on a platform where it could be. Reads that differ (a writer just raised it): under the lock.
        first = struct.unpack_from(self._FMT, self._map, 0)[0]
        if struct.unpack_from(self._FMT, self._map, 0)[0] == first:
            return int(first)
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        try:
            return int(struct.unpack_from(self._FMT, self._map, 0)[0])
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def publish(self, epoch: int) -> None:
        """Raise the counter to ``epoch`` (never lower it: a slower writer of an older epoch)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if epoch > struct.unpack_from(self._FMT, self._map, 0)[0]:
                struct.pack_into(self._FMT, self._map, 0, epoch)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    async def on_commit(self, epoch: int) -> None:
        """A :meth:`Store.on_commit` hook: register it before the runtime's, so it runs first."""
        self.publish(epoch)

    def forget_above(self, epoch: int) -> None:
        """Lower a counter left by a database file since replaced (epochs restarted lower)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if struct.unpack_from(self._FMT, self._map, 0)[0] > epoch:
                struct.pack_into(self._FMT, self._map, 0, epoch)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    async def attach(self, follower: EpochFollower) -> None:
        """Make ``follower`` (a started store) read this board. A value published before the
        database read below is at most the database's epoch (publishing follows the commit), so a
        higher one belongs to a replaced database file and is lowered: a board ahead of the
        database would make every request wait for an epoch that never comes."""
        before = self.read()
        stored = await follower.read_epoch()
        if before > stored:
            log.warning("epoch board %s ahead of the database (%d > %d): reset", self.path, before, stored)
            self.forget_above(stored)
        self.publish(stored)
        follower.board = self

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._map.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _settle(target: asyncio.Future[int], source: asyncio.Future[int]) -> None:
    """Hand the outcome of ``source`` to ``target`` (unless someone already did)."""
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())
