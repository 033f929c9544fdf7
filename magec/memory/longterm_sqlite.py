"""SQLite helpers of :class:`~magec.memory.sql_longterm.SqlLongTermStore`'s search path.

* :class:`LazyConnection` — a search opens its SQLAlchemy connection only when a step needs
  the database (a warm vector search on SQLite needs none but the final row read); optionally in
  autocommit mode (no BEGIN / ROLLBACK round trips on PostgreSQL).
* :class:`PointReader` — the final read of a search (≤ 100 rows by primary key, plus the scope's
  write generation) on a plain ``sqlite3`` connection, **on the event loop**. Through aiosqlite
  every statement is an event-loop ↔ worker-thread round trip, and on a busy machine waking that
  thread costs milliseconds (profiled: 4–9 ms of a 12 ms search at 100k memories with load on
  both cores) while the read itself takes ~50 µs. WAL readers never wait for writers; the
  connection has ``busy_timeout = 0`` and is ``query_only``, so a locked database (a checkpoint
  in progress, say) raises at once and the caller falls back to the aiosqlite path — the loop is
  never parked on a lock.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from types import TracebackType
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)


class LazyConnection:
    """``async with LazyConnection(engine) as db: conn = await db.get()`` — connects on first use."""

    def __init__(self, engine: AsyncEngine, *, autocommit: bool = False) -> None:
        self.engine = engine
        self.autocommit = autocommit
        self._conn: AsyncConnection | None = None

    async def get(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self.engine.connect()
            if self.autocommit:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
        return self._conn

    async def __aenter__(self) -> LazyConnection:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class Row(NamedTuple):
    """Mirror of the SQLAlchemy row of ``SqlLongTermStore._columns()`` (attribute access)."""

    id: int
    app_name: str
    user_id: str
    content: str
    category: str | None
    author: str
    created_at: float
    updated_at: float
    embedding_model: str | None
    dim: int | None


_COLUMNS = "id, app_name, user_id, content, category, author, created_at, updated_at, embedding_model, dim"


class PointReader:
    """Primary-key reads of ``table`` from a SQLite file, synchronously (see the module docstring)."""

    def __init__(self, path: str, table: str) -> None:
        self.path = path
        self.table = table
        self._conn: sqlite3.Connection | None = None
        self.disabled = False

    @classmethod
    def for_engine(cls, engine: AsyncEngine, table: str) -> PointReader | None:
        """A reader for a file-backed SQLite engine; ``None`` for anything else (memory DBs too)."""
        url = engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        if url.database.startswith("file:") or url.query.get("mode") == "memory":
            return None
        return cls(url.database, table)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("PRAGMA query_only = 1")
            self._conn = conn
        return self._conn

    def rows(self, ids: Sequence[int], app: str, user: str) -> tuple[list[Row], int] | None:
        """The rows of ``ids`` and the scope generation, read by one statement; ``None`` = could not
        read now (locked, or the file is gone): use the async path."""
        if self.disabled or not ids:
            return None
        marks = ", ".join("?" * len(ids))
        sql = (
            f"SELECT {_COLUMNS}, (SELECT generation FROM memory_scopes WHERE app_name = ? AND user_id = ?) "
            f"FROM {self.table} WHERE id IN ({marks})"
        )
        try:
            found = self._connection().execute(sql, (app, user, *ids)).fetchall()
        except sqlite3.OperationalError as e:  # locked / busy: never wait on the event loop
            log.debug("point read fell back to the async path: %s", e)
            return None
        except sqlite3.DatabaseError:
            log.warning("memory point reader disabled", exc_info=True)
            self.disabled = True
            return None
        if not found:
            return None
        generation = int(found[0][-1] or 0)
        return [Row(*r[:-1]) for r in found], generation

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def row_map(rows: list[Any]) -> dict[str, Any]:
    return {str(r.id): r for r in rows}
