"""Database connection pools sized from the turn limits, and a pool that answers "overloaded".

Contract:

* :func:`pool_sizing` turns the admission limits (``limits.maxRuns``, :mod:`magec.runtime.admission`)
  and the optional ``database.poolSize`` / ``database.poolTimeout`` into SQLAlchemy pool arguments.
  A turn holds a connection only for its short reads (the session load; appends go through the
  session writer, the audit and usage rows are written in batches), never while it waits on the
  provider, so at most one connection per admitted turn is ever wanted at once:

  - **SQLite** (a file): one connection per admitted turn (``maxRuns``; :data:`SQLITE_CAP` when
    unlimited) plus :data:`RESERVE`: an admitted turn never queues for a connection. A connection
    is a driver thread and a file handle in this process, no server process; when 1,000 streams
    start at once the event loop itself is busy for seconds (measured: 10 s loop stalls on a
    loaded 2-core machine), and a session load waiting behind 80 connections for that long was
    refused although nothing was exhausted but CPU. :data:`KEEP_SQLITE` stay open; the rest are
    opened for a burst and closed after it.
  - **PostgreSQL**: every connection is a server process shared by all replicas, so the total is
    capped at :data:`PG_CAP` per process (``database.poolSize`` changes it); beyond it a turn
    queues for at most the pool timeout.
  - ``database.poolSize`` > 0 sets the total explicitly (both databases).

* The pool timeout is short (:data:`DEFAULT_TIMEOUT` s, ``database.poolTimeout``; SQLAlchemy's is
  30 s): a process whose pool stays exhausted that long is overloaded and says so.
* :class:`OverloadedQueuePool` raises :class:`~magec.errors.OverloadedError` (503 ``overloaded``
  with ``Retry-After``) instead of SQLAlchemy's ``TimeoutError``: every surface maps a
  :class:`~magec.errors.MagecError` already, so a client never sees "QueuePool limit … reached".
* :func:`make_engine` builds the async engine with that pool (re-exported by
  :mod:`magec.store.store`, where callers import it from).
* :func:`unreachable` tells "the database does not answer" from "this process has no free
  connection" (:func:`exhausted`: an :class:`~magec.errors.OverloadedError`, the database may be
  fine). :class:`Reachability` is what a failed request asks: only for an error that can be the
  database's connection (:func:`may_be_connectivity`; a full disk, a constraint, a permission
  cannot), one check at a time per engine, and an "unreachable"/"overloaded" verdict is reused for
  :data:`VERDICT_TTL` s, so a burst of failures during an outage makes one ``SELECT 1``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy import text as sql_text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

from magec.errors import ConfigError, OverloadedError
from magec.redact import redact

log = logging.getLogger(__name__)

#: connections beyond one per admitted turn: background work (audit and usage batches, the epoch
#: watcher, health checks) and Admin API requests, which admission does not count
RESERVE = 16
#: per-turn connections of a SQLite pool when ``limits.maxRuns`` is 0 (no limit)
SQLITE_CAP = 1024
#: connections a SQLite pool keeps open between bursts
KEEP_SQLITE = 16
#: the most connections one process opens to PostgreSQL by default (``database.poolSize``)
PG_CAP = 40
#: connections a PostgreSQL pool keeps open between bursts
KEEP_PG = 10
#: seconds a request waits for a free connection before it is answered 503 ``overloaded``
DEFAULT_TIMEOUT = 10.0
#: what a client refused for an exhausted pool is told to wait (seconds)
RETRY_AFTER = 1


@dataclass(frozen=True)
class PoolSizing:
    """``pool_size`` kept open, ``max_overflow`` opened for bursts, ``timeout`` seconds of wait."""

    pool_size: int
    max_overflow: int
    timeout: float

    @property
    def total(self) -> int:
        return self.pool_size + self.max_overflow

    def engine_kwargs(self) -> dict[str, Any]:
        return {
            "poolclass": OverloadedQueuePool,
            "pool_size": self.pool_size,
            "max_overflow": self.max_overflow,
            "pool_timeout": self.timeout,
        }


def pool_sizing(url: str, max_runs: int, pool_size: int = 0, timeout: float = DEFAULT_TIMEOUT) -> PoolSizing:
    """The pool for a database ``url`` in a process admitting ``max_runs`` turns at once
    (0 = no limit); ``pool_size`` > 0 is ``database.poolSize`` (the total, explicitly)."""
    sqlite = url.startswith("sqlite")
    if pool_size > 0:
        total = pool_size
    elif sqlite:
        total = (max_runs or SQLITE_CAP) + RESERVE
    else:
        total = min((max_runs or PG_CAP) + RESERVE, PG_CAP)
    keep = min(total, KEEP_SQLITE if sqlite else KEEP_PG)
    return PoolSizing(keep, total - keep, timeout if timeout > 0 else DEFAULT_TIMEOUT)


def poolable(url: str) -> bool:
    """False for an in-memory SQLite database: one shared connection (SQLAlchemy's StaticPool /
    SingletonThreadPool), nothing to size."""
    return not (url.startswith("sqlite") and (":memory:" in url or "mode=memory" in url or url.rstrip("/").endswith(":")))


class OverloadedQueuePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's async queue pool, but an exhausted pool is the process being overloaded: a
    :class:`~magec.errors.OverloadedError` (503, ``Retry-After``), not an internal error."""

    def _do_get(self) -> Any:
        try:
            return super()._do_get()
        except exc.TimeoutError as e:
            log.warning("database pool exhausted (%d connections, %.1fs wait): answering overloaded",
                        self.size() + self._max_overflow, self._timeout)
            raise out_of_connections() from e


def out_of_connections() -> OverloadedError:
    return OverloadedError("the server is out of database connections (database.poolSize); retry shortly",
                           retry_after=RETRY_AFTER)


def exhausted(engine: AsyncEngine) -> bool:
    """True when every connection ``engine``'s pool may open is checked out (a checkout waits)."""
    pool = engine.sync_engine.pool
    overflow = getattr(pool, "_max_overflow", -1)
    if not isinstance(pool, QueuePool) or overflow < 0:
        return False
    return pool.checkedout() >= pool.size() + overflow




def make_engine(url: str, sizing: PoolSizing | None = None) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and foreign keys on every connection.

    ``hide_parameters``: SQL parameters are whole resources and conversation events, so neither
    SQLAlchemy's statement log (debug level) nor its error messages may ever carry them. The pool
    is sized from the turn limits (``sizing``; default: the default limits) and answers an
    exhausted pool with 503 ``overloaded`` (:mod:`magec.store.pool`)."""
    pool = (sizing or pool_sizing(url, 0)).engine_kwargs() if poolable(url) else {}
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True, **pool)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            # overwritten and deleted rows (an old clear value, a deleted secret) are zeroed on disk
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True, **pool)


def describe(url: str) -> str:
    """``url`` as an operator reads it: the file of a SQLite database, else the URL without its
    password (which database a command writes to, or a server serves)."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        return "an invalid database.url"
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return f"SQLite {parsed.database}"
    return _masked(parsed)


def _masked(parsed: URL) -> str:
    """``parsed`` rendered with its password, if it has one, as ``***``: in the authority and in a
    ``password`` query parameter (which asyncpg also reads). SQLAlchemy masks an empty password
    too (``postgres:***@``), which made an operator look for a password that was never set."""
    if not parsed.password:
        parsed = parsed._replace(password=None)
    text = parsed.render_as_string(hide_password=True)
    if any(key.lower() == "password" for key in parsed.query):
        text = _QUERY_PASSWORD.sub(r"\1***", text)
    return text


_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def database_error(err: BaseException, url: str) -> ConfigError | None:
    """A one-line :class:`~magec.errors.ConfigError` naming ``database.url`` (without its password)
    for a database magec cannot open — no async driver for the URL, the server unreachable, a login
    or database refused — instead of a driver's traceback; None for anything else."""
    try:
        where = _masked(make_url(url))
    except exc.ArgumentError:
        return ConfigError("database.url: not a database URL (e.g. sqlite+aiosqlite:///data/magec.db, "
                           "postgresql+asyncpg://user:pass@host/magec)")
    no_driver = isinstance(err, (ModuleNotFoundError, exc.NoSuchModuleError)) or (
        isinstance(err, exc.InvalidRequestError) and "async" in str(err))
    if no_driver:
        return ConfigError(f"database.url {where}: magec needs an async driver: use postgresql+asyncpg://… "
                           "or sqlite+aiosqlite:///…")
    if isinstance(err, (exc.DBAPIError, OSError, TimeoutError)):
        cause = getattr(err, "orig", None) or err
        detail = redact(str(cause).splitlines()[0] if str(cause) else type(cause).__name__)
        return ConfigError(f"database.url {where}: cannot open the database: {detail}")
    return None


async def unreachable(engine: AsyncEngine, timeout: float) -> BaseException | None:
    """Why ``engine``'s database does not answer a ``SELECT 1`` within ``timeout`` seconds (a
    connection refused, a vanished socket, the timeout itself); None when it answers. An
    :class:`~magec.errors.OverloadedError` when the pool had no free connection for the check
    (refused by the pool, or still exhausted when the wait timed out): the process is busy, which
    says nothing of the database. (A pool full at the moment of asking is no verdict: background
    work holds connections for moments, and the check waits for one as any request does.)"""
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(sql_text("SELECT 1"))
    except OverloadedError as e:
        return e
    except Exception as e:  # noqa: BLE001 - any failure to answer is "unreachable"
        if isinstance(e, TimeoutError) and exhausted(engine):
            return out_of_connections()
        return e
    return None


#: errnos of a local resource (disk, permissions, paths), never of the database's connection
_LOCAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                           errno.EEXIST, errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ENOTEMPTY,
                           errno.EXDEV, errno.EMFILE, errno.ENFILE})
#: SQLite result codes that are no connectivity: full, read-only, constraint, too big, mismatch
_SQLITE_LOCAL = frozenset({13, 8, 19, 18, 20})


def may_be_connectivity(err: BaseException) -> bool:
    """Whether ``err`` (a failed request's) can mean the database is unreachable: False for a
    full disk, a read-only or permission failure, a constraint or a bad statement — a request
    failing so is answered at once, without checking the database."""
    if isinstance(err, exc.DBAPIError):
        if err.connection_invalidated:
            return True
        if isinstance(err, exc.IntegrityError | exc.DataError | exc.ProgrammingError | exc.NotSupportedError):
            return False
        cause: BaseException | None = err.orig
        while cause is not None:  # the driver's own error (and what it wraps)
            code = getattr(cause, "sqlite_errorcode", None)
            if isinstance(code, int) and code & 0xFF in _SQLITE_LOCAL:
                return False
            if isinstance(cause, OSError):
                return may_be_connectivity(cause)
            cause = cause.__cause__
        return True
    if isinstance(err, OSError):
        return err.errno not in _LOCAL_ERRNOS
    return True


#: seconds an "unreachable" / "overloaded" verdict answers further failed requests
VERDICT_TTL = 1.0


class Reachability:
    """The database check of failed requests, per engine: one at a time, a bad verdict reused for
    :data:`VERDICT_TTL` s (a good one never: the next failure may be the first of an outage)."""

    _of: weakref.WeakKeyDictionary[AsyncEngine, Reachability] = weakref.WeakKeyDictionary()

    def __init__(self, engine: AsyncEngine, timeout: float) -> None:
        self.engine = engine
        self.timeout = timeout
        self._bad: tuple[float, BaseException] | None = None
        self._running: asyncio.Future[BaseException | None] | None = None

    @classmethod
    def of(cls, engine: AsyncEngine, timeout: float) -> Reachability:
        found = cls._of.get(engine)
        if found is None:
            found = cls._of[engine] = cls(engine, timeout)
        return found

    async def cause(self) -> BaseException | None:
        """:func:`unreachable`'s answer, shared by concurrent callers, a bad one cached a moment."""
        if self._bad is not None and time.monotonic() - self._bad[0] < VERDICT_TTL:
            return self._bad[1]
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(unreachable(self.engine, self.timeout))
        found = await asyncio.shield(self._running)
        self._bad = (time.monotonic(), found) if found is not None else None
        return found


__all__ = ["DEFAULT_TIMEOUT", "OverloadedQueuePool", "PoolSizing", "Reachability", "database_error", "describe",
           "exhausted", "make_engine", "may_be_connectivity", "pool_sizing", "poolable", "unreachable"]
