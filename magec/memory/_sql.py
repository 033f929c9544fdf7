"""SQL helpers shared by the SQL session service and the SQL long-term store.

* :func:`write_tx` — one write transaction. On SQLite, writers on one engine are serialised by an
  in-process ``asyncio.Lock``: SQLite admits one writer anyway, and waiting on a lock we own is far
  cheaper than SQLite's busy-handler sleep-and-retry (the main cost of ADK's stock service under
  concurrency). PostgreSQL writers run concurrently and rely on row locks.
* :func:`upsert` — ``INSERT … ON CONFLICT`` for SQLite and PostgreSQL (the only dialects we support).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_sqlite_locks: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def _write_lock(engine: AsyncEngine) -> asyncio.Lock | None:
    if not is_sqlite(engine):
        return None
    lock = _sqlite_locks.get(engine.sync_engine)
    if lock is None:
        lock = asyncio.Lock()
        _sqlite_locks[engine.sync_engine] = lock
    return lock


@asynccontextmanager
async def write_tx(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A write transaction: committed on normal exit, rolled back on an exception."""
    lock = _write_lock(engine)
    if lock is None:
        async with engine.begin() as conn:
            yield conn
        return
    async with lock, engine.begin() as conn:
        yield conn


def insert_for(engine_or_conn: AsyncEngine | AsyncConnection, table: sa.Table) -> Any:
    """A dialect ``insert`` that supports ``on_conflict_do_*``."""
    name = engine_or_conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"unsupported database dialect {name!r} (use SQLite or PostgreSQL)")


async def upsert(
    conn: AsyncConnection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert ``rows``; on a ``keys`` conflict overwrite the ``update`` columns. One statement."""
    if not rows:
        return
    stmt = insert_for(conn, table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
    await conn.execute(stmt, list(rows))


def like_pattern(term: str) -> str:
    """``%term%`` for ``LIKE … ESCAPE '\\'``: the term's own ``%``, ``_`` and ``\\`` match literally."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
