"""Backup sections: database tables that travel in a backup next to the resources and settings.

A subsystem that keeps data outside the ``resources`` table (skills' files, sessions, long-term
memories, the conversation audit) declares a :class:`Section` — a name and its tables — and the
composition root lists it in :func:`magec.server.backup_sections`. Nothing else is needed: the
backup writes every row of those tables, a restore replaces them in the same transaction as the
resources (all or nothing).

* ``optional=False`` (e.g. skills' files): always in a backup; a restore of an archive that lacks
  the section empties its tables (the archive says "there was nothing").
* ``optional=True`` (sessions, memories, audit): only with ``include=<name>``; a restore of an
  archive without it leaves the tables as they are.

Rows are JSON: ``bytes`` become base64 strings and datetimes ISO-8601 strings (decoded back by the
column's type), so an archive made on SQLite restores on PostgreSQL and the other way round.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

#: rows inserted per statement on restore (SQLite caps bound parameters per statement)
CHUNK = 200

AfterRestore = Callable[[AsyncConnection, dict[str, int]], Awaitable[None]]


@dataclass(frozen=True)
class Section:
    """``tables`` are written in order and restored in order (parents first); ``before_restore``
    reads what it needs from the old rows (returned dict) before they are deleted and
    ``after_restore`` fixes up the new ones (e.g. bumps cache generations) in the same transaction."""

    name: str
    tables: tuple[sa.Table, ...]
    optional: bool = True
    description: str = ""
    before_restore: Callable[[AsyncConnection], Awaitable[dict[str, int]]] | None = None
    after_restore: AfterRestore | None = None
    #: columns left out of the backup (regenerated: e.g. autoincrement ids that others do not reference)
    skip_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)


def encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def decode(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, sa.LargeBinary):
        return base64.b64decode(value)
    if isinstance(kind, sa.DateTime) and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if isinstance(kind, sa.Date) and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


async def dump_table(conn: AsyncConnection, table: sa.Table, skip: Sequence[str] = ()) -> AsyncIterator[dict[str, Any]]:
    """Every row of ``table`` as a JSON-ready dict, in primary-key order (streamed)."""
    cols = [c for c in table.columns if c.name not in skip]
    order = list(table.primary_key.columns) or cols[:1]
    result = await conn.stream(sa.select(*cols).order_by(*order))
    async for row in result:
        yield {c.name: encode(v) for c, v in zip(cols, row, strict=True)}


class StreamedRows(Protocol):
    """Rows streamed from another database, counted beforehand (``magec migrate``'s copy: a
    many-GB SQLite is never held in memory at once)."""

    def __len__(self) -> int: ...

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...


#: a table's rows in a backup: a list read from an archive, or rows streamed from elsewhere
Rows = Sequence[dict[str, Any]] | StreamedRows


async def _each(rows: Iterable[dict[str, Any]] | AsyncIterable[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


async def load_table(conn: AsyncConnection, table: sa.Table, rows: Rows) -> int:
    """Insert ``rows`` (JSON form) into ``table``; unknown keys are ignored (an older/newer column
    set). Returns how many rows were inserted."""
    names = {c.name: c for c in table.columns}
    batch: list[dict[str, Any]] = []
    count = 0
    async for row in _each(rows):
        batch.append({k: decode(names[k], v) for k, v in row.items() if k in names})
        count += 1
        if len(batch) >= CHUNK:
            await conn.execute(table.insert(), batch)
            batch = []
    if batch:
        await conn.execute(table.insert(), batch)
    if conn.dialect.name == "postgresql":
        await _resync_sequence(conn, table)
    return count


async def _resync_sequence(conn: AsyncConnection, table: sa.Table) -> None:
    """Explicit ids were inserted: move a serial column's sequence past them (else the next
    ordinary insert would collide)."""
    auto = table.autoincrement_column
    if auto is None:
        return
    await conn.execute(
        sa.text(
            "SELECT setval(pg_get_serial_sequence(:t, :c), "
            f"COALESCE((SELECT MAX({auto.name}) FROM {table.name}), 0) + 1, false)"
        ),
        {"t": table.name, "c": auto.name},
    )


def by_name(sections: Sequence[Section]) -> dict[str, Section]:
    out: dict[str, Section] = {}
    for s in sections:
        if s.name in out:
            raise ValueError(f"backup section {s.name!r} declared twice")
        out[s.name] = s
    return out
