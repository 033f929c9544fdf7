"""Alembic migrations, applied at start-up and by ``magec migrate``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

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
        await conn.run_sync(lambda c: command.upgrade(_config(c), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The applied head revision(s), comma-joined (several when branches are applied)."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        heads = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
    return ",".join(sorted(heads)) or None
