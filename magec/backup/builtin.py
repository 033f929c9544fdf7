"""The backup sections of magec's subsystems (listed by :func:`magec.server.backup_sections`).

Always in a backup (configuration): ``skills`` (the files of skill packages, ``skill_files``) and
``prices`` (the cost price table). With ``include=`` (conversation data): ``sessions``,
``memories``, ``artifacts``, ``audit`` (the conversation log), ``runs`` (flow runs) and ``usage``
(token and audio counters: the cost history and what budgets count).

Sessions are in the database only with the default session service (SQLite/PostgreSQL); sessions
kept by a Redis session provider, and memories in an external pgvector provider, are not in any
of magec's tables and so not in a backup. The artifacts' URL signing key is not carried: download
links issued before a restore on another server stop working there (they expire anyway).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from magec.artifacts.tables import artifacts
from magec.artifacts.tables import recount as recount_artifacts
from magec.audit.tables import audit_conversations, audit_turns
from magec.backup.sections import Section
from magec.costs.tables import cost_prices, flow_runs
from magec.memory.owners import fill_clients
from magec.memory.session_quota import recount
from magec.memory.tables import LONGTERM_TABLES, SESSION_TABLES, memory_entries, memory_scopes
from magec.skills.tables import skill_files
from magec.store.tables import usage


async def _old_generation(conn: AsyncConnection) -> dict[str, int]:
    top = (await conn.execute(sa.select(sa.func.max(memory_scopes.c.generation)))).scalar_one_or_none()
    return {"maxGeneration": int(top or 0)}


async def _bump_generations(conn: AsyncConnection, before: dict[str, int]) -> None:
    # Every process validates its cached vectors by the scope's generation: restored scopes must
    # carry generations no cache has seen, or a process would keep serving the replaced vectors.
    await conn.execute(
        memory_scopes.update().values(generation=memory_scopes.c.generation + before["maxGeneration"] + 1)
    )


async def _after_memories(conn: AsyncConnection, before: dict[str, int]) -> None:
    await _bump_generations(conn, before)
    # an archive from before memories were counted per client has no ``client`` on its rows: fill
    # it from each owner key, or they would count against no client's limits.maxMemoriesPerClient
    await conn.execute(fill_clients(memory_entries, conn.dialect.name))


async def _recount_sessions(conn: AsyncConnection, _: dict[str, int]) -> None:
    # an archive from before the per-client totals has no ``client`` and ``bytes`` on its
    # sessions: count them from their events, or they would count against no client's total
    for statement in recount(conn.dialect.name):
        await conn.execute(statement)


SESSIONS = Section(
    "sessions",
    SESSION_TABLES,
    description="conversation sessions of the default session service (events and state)",
    after_restore=_recount_sessions,
)
MEMORIES = Section(
    "memories",
    LONGTERM_TABLES,
    description="long-term memories of the SQL memory store (with their embeddings) and re-embed jobs",
    before_restore=_old_generation,
    after_restore=_after_memories,
)
SKILLS = Section("skills", (skill_files,), optional=False, description="files of skill packages")
PRICES = Section("prices", (cost_prices,), optional=False, description="the cost price table")
async def _recount_artifacts(conn: AsyncConnection, _: dict[str, int]) -> None:
    # an archive from before the per-client totals has no ``client`` column and counted only the
    # data: recount, or the restored artifacts would count against no client's total
    for statement in recount_artifacts(conn.dialect.name):
        await conn.execute(statement)


ARTIFACTS = Section(
    "artifacts", (artifacts,), description="artifacts saved in sessions (every version)", after_restore=_recount_artifacts
)
AUDIT = Section("audit", (audit_conversations, audit_turns), description="the conversation audit log")
RUNS = Section("runs", (flow_runs,), description="flow runs (path taken, per-node timing)")
# ids travel (the restore moves PostgreSQL's sequence past them): the budget counters of a running
# server read usage rows by id, so an archive restored into an empty table is counted at once
USAGE = Section("usage", (usage,), description="usage counters (tokens, audio): the cost history budgets count")
BUILTIN = (SKILLS, PRICES, SESSIONS, MEMORIES, ARTIFACTS, AUDIT, RUNS, USAGE)
