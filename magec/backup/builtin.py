"""The backup sections of the memory layer: ``sessions`` and ``memories`` (both optional).

Sessions are in the database only with the default session service (SQLite/PostgreSQL); sessions
kept by a Redis session provider are not in any table and so not in a backup.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from magec.backup.sections import Section
from magec.memory.tables import LONGTERM_TABLES, SESSION_TABLES, memory_scopes


async def _old_generation(conn: AsyncConnection) -> dict[str, int]:
    top = (await conn.execute(sa.select(sa.func.max(memory_scopes.c.generation)))).scalar_one_or_none()
    return {"maxGeneration": int(top or 0)}


async def _bump_generations(conn: AsyncConnection, before: dict[str, int]) -> None:
    # Every process validates its cached vectors by the scope's generation: restored scopes must
    # carry generations no cache has seen, or a process would keep serving the replaced vectors.
    await conn.execute(
        memory_scopes.update().values(generation=memory_scopes.c.generation + before["maxGeneration"] + 1)
    )


SESSIONS = Section(
    "sessions",
    SESSION_TABLES,
    description="conversation sessions of the default session service (events and state)",
)
MEMORIES = Section(
    "memories",
    LONGTERM_TABLES,
    description="long-term memories of the SQL memory store (with their embeddings) and re-embed jobs",
    before_restore=_old_generation,
    after_restore=_bump_generations,
)
BUILTIN = (SESSIONS, MEMORIES)
