"""Alembic migrations, applied at start-up and by ``magec migrate``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
#: PostgreSQL advisory lock key held while migrating ("magecmig" as 8 bytes; any fixed key would do)
_MIGRATION_LOCK = int.from_bytes(b"magecmig", "big") & 0x7FFF_FFFF_FFFF_FFFF


def _config(connection: Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> None:
    """Bring the database schema up to ``revision`` (idempotent). ``heads``: every branch — each
    subsystem's migration branches from the one it needs, so independent tables never conflict.

    On PostgreSQL the upgrade holds a transaction-scoped advisory lock: replicas started (or
    upgraded) at once take turns, and the later ones find the schema at head and change nothing.
    Unlocked, two upgrades creating the same tables at once failed one replica's start-up with a
    duplicate-key error from PostgreSQL's catalog."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        await conn.run_sync(lambda c: _upgrade(c, revision))


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = _config(connection)
    known = {script.revision for script in ScriptDirectory.from_config(cfg).walk_revisions()}
    unknown = sorted(set(MigrationContext.configure(connection).get_current_heads()) - known)
    if unknown:
        # an older magec started on a database a newer one upgraded (a replica restarted mid-rollout,
        # a rollback): say so in one line, not alembic's "Can't locate revision" traceback
        raise ConfigError(
            f"the database schema is at revision {', '.join(unknown)}, which this magec does not know: a "
            "newer magec upgraded it. Run that version (or a newer one) on every replica; magec never "
            "downgrades a schema (to go back, restore a backup made by this version into an empty database)"
        )
    command.upgrade(cfg, revision)


def schema_heads() -> str:
    """The schema revision(s) this magec's migrations lead to, comma-joined (no database needed):
    what ``magec --version`` names, so an operator can tell whether an upgrade changes the schema."""
    from alembic.script import ScriptDirectory

    return ",".join(sorted(ScriptDirectory(str(MIGRATIONS)).get_heads()))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The applied head revision(s), comma-joined (several when branches are applied)."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        heads = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
    return ",".join(sorted(heads)) or None
