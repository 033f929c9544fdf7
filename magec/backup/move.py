"""Moving the embedded SQLite database into the configured one (``magec migrate``).

Journey 7: an operator on the default SQLite changes ``database.url`` to PostgreSQL and runs
``magec migrate``; what they had (agents, clients, secrets, memories, conversations) must be
there when magec starts on the new database, not an empty store with an open user API.

Contract: :func:`copy_embedded` copies only when ``database.url`` names another database, the
embedded SQLite (``dataDir/magec.db``) exists and holds resources, and the target holds none — a
target with data is never overwritten, so a second ``magec migrate`` is a no-op. The copy is a
backup of the SQLite database (every section, conversation data included) restored into the
target in one transaction, with the same encryption key: all or nothing. The sections' rows are
streamed from the SQLite file into that transaction (never held in memory at once), and the caller
is told of every row copied (the command line's progress bar).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from magec.backup.sections import Section
from magec.config import Config

log = logging.getLogger(__name__)


@dataclass
class MoveReport:
    """What :func:`copy_embedded` did: ``copied`` kind → count, or why nothing was copied."""

    source: Path
    copied: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    skipped: str | None = None


def embedded_path(cfg: Config) -> Path:
    return (cfg.data_dir / "magec.db").resolve()


def _elsewhere(cfg: Config) -> Path | None:
    """The embedded SQLite file when ``database.url`` names another database and the file exists
    (what there may be to move, or to point at); None otherwise."""
    source = embedded_path(cfg)
    if not cfg.database_url or cfg.resolved_database_url() == f"sqlite+aiosqlite:///{source}" or not source.is_file():
        return None
    return source


async def _resource_count(engine: Any) -> int:
    from magec.store.tables import resources

    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(resources))).scalar_one())


class _Streamed:
    """A table's rows read from the source while the target inserts them (one source connection
    per table); ``len()`` is the count taken before, and ``advance`` is told of every row."""

    def __init__(self, engine: Any, table: sa.Table, skip: Sequence[str], count: int,
                 advance: Callable[[int], None]) -> None:
        self._engine, self._table, self._skip = engine, table, skip
        self._count, self._advance = count, advance

    def __len__(self) -> int:
        return self._count

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        from magec.backup.sections import dump_table

        async with self._engine.connect() as conn:
            async for row in dump_table(conn, self._table, self._skip):
                yield row
                self._advance(1)


async def copy_embedded(
    cfg: Config, target: Any, say: Callable[[str], None], sections: Sequence[Section], rules: Any,
    progress: Callable[[int], Callable[[int], None]] | None = None,
) -> MoveReport | None:
    """Copy the embedded SQLite database into ``target`` (an opened, migrated engine on
    ``database.url``) when the contract above allows; ``None`` when there is nothing to move.
    ``sections`` and ``rules``: the composition root's (``magec.server.backup_sections()`` and
    ``save_rules()``). ``progress(total_rows)`` returns what is called with each copied row count.

    Resources and settings travel as a backup archive (small: validated and sealed as any restore);
    the sections' rows (conversations, memories, history: what grows) are streamed table by table
    from the source into the restore's transaction, so memory stays flat whatever their size."""
    from magec.backup import archive
    from magec.backup.restore import restore
    from magec.config_view import SnapshotCache
    from magec.store.crypto import load_cipher
    from magec.store.migrate import upgrade
    from magec.store.store import Store, make_engine

    source = _elsewhere(cfg)
    if source is None:
        return None
    source_engine = make_engine(f"sqlite+aiosqlite:///{source}")
    try:
        await upgrade(source_engine)  # an older SQLite is brought to this version's tables first
        if await _resource_count(source_engine) == 0:
            return None
        report = MoveReport(source=source)
        if await _resource_count(target) > 0:
            report.skipped = "the configured database already holds data; nothing was copied"
            return report
        cipher = load_cipher(cfg.encryption_key, cfg.data_dir)
        src: Store[Any] = Store(source_engine, cipher, snapshots=SnapshotCache(), rules=rules)
        dst: Store[Any] = Store(target, cipher, snapshots=SnapshotCache(), rules=rules)
        await src.start()
        await dst.start()
        say(f"copying the embedded SQLite database {source} into the configured database…")
        with tempfile.TemporaryFile() as buf:
            manifest = await archive.write(src, (), buf)
            buf.seek(0)
            # our own archive of a local file: no upload limit applies
            backup = archive.read(buf, max_unpacked=1 << 62)
        counts = await _row_counts(source_engine, sections)
        total = sum(n for tables in counts.values() for n in tables.values())
        advance = progress(total) if progress is not None else (lambda _n: None)
        backup.sections = {
            s.name: {
                t.name: _Streamed(source_engine, t, s.skip_columns.get(t.name, ()), counts[s.name][t.name], advance)
                for t in s.tables
            }
            for s in sections
        }
        answer = await restore(dst, backup, sections)
        report.copied = {k: n for k, n in manifest["kinds"].items() if n}
        report.rows = sum(n for tables in answer["sections"].values() for n in tables.values())
        return report
    finally:
        await source_engine.dispose()


async def _row_counts(engine: Any, sections: Sequence[Section]) -> dict[str, dict[str, int]]:
    async with engine.connect() as conn:
        return {
            s.name: {
                t.name: int((await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one())
                for t in s.tables
            }
            for s in sections
        }


async def warn_unmoved(cfg: Config, target: Any) -> None:
    """Log a warning when magec starts on an empty ``database.url`` while the embedded SQLite
    still holds data: otherwise the operator who skipped ``magec migrate`` sees an empty Admin UI
    (and an open user API, since no client exists) with no hint that their data is elsewhere."""
    source = _elsewhere(cfg)
    if source is None or await _resource_count(target) > 0:
        return
    from magec.store.store import make_engine

    engine = make_engine(f"sqlite+aiosqlite:///{source}")
    try:
        count = await _resource_count(engine)
    except sa.exc.SQLAlchemyError:  # not a magec database (or an unreadable one): nothing to point at
        return
    finally:
        await engine.dispose()
    if count:
        log.warning(
            "database.url is a database with no resources, but the embedded SQLite %s holds %d: stop "
            "magec and run `magec migrate` to copy them into it (docs/backup.md)", source, count,
        )
