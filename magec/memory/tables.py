"""SQLAlchemy tables of the memory layer, on their own ``memory_metadata``.

Session tables (``session_*``) back :class:`magec.memory.sessions.SqlSessionService`; memory tables
(``memory_*``) back :class:`magec.memory.longterm.SqlLongTermStore` and the re-embed jobs. They work
on SQLite and PostgreSQL alike (no dialect-specific types): the Alembic migrations of the store
create them, and :func:`create_memory_tables` does the same for tests and benches.

Layout choices (all for cheap appends under concurrency):

* ``session_events`` is keyed by ``(app, user, session, seq)`` where ``seq`` is the session's
  revision after the append, so ordering needs no extra index and an append is one INSERT.
* ``session_sessions.bytes`` is what the session's events take (their stored JSON, UTF-8), added
  by the same statement that bumps the revision; ``client`` is the owner key's client part
  (:mod:`magec.memory.owners`). A client's stored conversations are one range of the
  ``(client, bytes)`` index (:mod:`magec.memory.session_quota`). Both come with the table, and
  with migration ``0007_session_totals`` for databases created before it.
* State is one row per key (``session_state``), so a state delta is an upsert of the changed keys,
  never a read-modify-write of a JSON blob. ``scope`` is ``a`` (app), ``u`` (user) or ``s``
  (session); unused id columns hold ``''``.
* ``memory_entries.client`` is the owner key's client part, as on ``session_sessions``: the
  memories one client's users hold are one range of its index (``limits.maxMemoriesPerClient``).
  It comes with the table, and with migration ``0013_memory_clients`` (filled from ``user_id``)
  for databases created before it.
* Memory embeddings are float32 BLOBs with the model key and dimension on every row, so vectors of
  different models are never compared.
* On SQLite, ``memory_entries_fts`` is an FTS5 **trigram** index over ``content`` and ``category``
  (external content: it stores only the index; triggers keep it in step with every insert, delete
  and content/category update). Trigrams answer the substring matches of the full-text search
  (``LIKE '%word%'`` semantics, case-insensitive, words of ≥ 3 characters) from the index instead
  of a scan. It is created with the table (:data:`MEMORY_FTS_DDL`, a DDL event) and by migration
  ``0005_memory_search`` for databases created before it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.memory.owners import owner_client

memory_metadata = sa.MetaData()

_ID = 255  # app / user / session / event ids

session_sessions = sa.Table(
    "session_sessions",
    memory_metadata,
    sa.Column("app_name", sa.String(_ID), primary_key=True),
    sa.Column("user_id", sa.String(_ID), primary_key=True),
    sa.Column("session_id", sa.String(_ID), primary_key=True),
    sa.Column("create_time", sa.Float, nullable=False),
    sa.Column("update_time", sa.Float, nullable=False),
    # Bumped by every append; the ADK stale-session marker and the event sequence number.
    sa.Column("revision", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("client", sa.String(_ID), nullable=False, server_default=""),
    sa.Column("bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("ix_session_sessions_app_update", "app_name", "update_time"),
    sa.Index("ix_session_sessions_client_bytes", "client", "bytes"),
)

session_events = sa.Table(
    "session_events",
    memory_metadata,
    sa.Column("app_name", sa.String(_ID), primary_key=True),
    sa.Column("user_id", sa.String(_ID), primary_key=True),
    sa.Column("session_id", sa.String(_ID), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("event_id", sa.String(_ID), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("data", sa.Text, nullable=False),  # Event JSON (exclude_none)
    sa.UniqueConstraint("app_name", "user_id", "session_id", "event_id", name="uq_session_events_event"),
)

session_state = sa.Table(
    "session_state",
    memory_metadata,
    sa.Column("app_name", sa.String(_ID), primary_key=True),
    sa.Column("scope", sa.String(1), primary_key=True),  # a | u | s
    sa.Column("user_id", sa.String(_ID), primary_key=True),
    sa.Column("session_id", sa.String(_ID), primary_key=True),
    sa.Column("key", sa.String(_ID), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON
)

memory_entries = sa.Table(
    "memory_entries",
    memory_metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("app_name", sa.String(_ID), nullable=False),
    sa.Column("user_id", sa.String(_ID), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("category", sa.String(255), nullable=True),
    sa.Column("author", sa.String(64), nullable=False, server_default="agent"),
    # NULL embedding = not embedded yet (embedding failed, or awaiting the re-embed job).
    sa.Column("embedding", sa.LargeBinary, nullable=True),
    sa.Column("embedding_model", sa.String(512), nullable=True),
    sa.Column("dim", sa.Integer, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # the owner key's client part (magec.memory.owners): a client's memories are one index range
    sa.Column("client", sa.String(_ID), nullable=False, server_default="", default=owner_client),
    sa.Index("ix_memory_entries_scope", "app_name", "user_id", "embedding_model"),
    sa.Index("ix_memory_entries_client", "client"),
    sa.Index("ix_memory_entries_recent", "app_name", "user_id", "created_at"),
    sa.Index("ix_memory_entries_model", "embedding_model", "id"),
)

#: SQLite FTS5 trigram index of ``memory_entries`` and the triggers that maintain it (idempotent).
MEMORY_FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS memory_entries_fts USING fts5(content, category, "
    "content='memory_entries', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS memory_entries_fts_ai AFTER INSERT ON memory_entries BEGIN "
    "INSERT INTO memory_entries_fts(rowid, content, category) VALUES (new.id, new.content, new.category); END",
    "CREATE TRIGGER IF NOT EXISTS memory_entries_fts_ad AFTER DELETE ON memory_entries BEGIN "
    "INSERT INTO memory_entries_fts(memory_entries_fts, rowid, content, category) "
    "VALUES ('delete', old.id, old.content, old.category); END",
    "CREATE TRIGGER IF NOT EXISTS memory_entries_fts_au AFTER UPDATE OF content, category ON memory_entries BEGIN "
    "INSERT INTO memory_entries_fts(memory_entries_fts, rowid, content, category) "
    "VALUES ('delete', old.id, old.content, old.category); "
    "INSERT INTO memory_entries_fts(rowid, content, category) VALUES (new.id, new.content, new.category); END",
)
#: Re-index every existing row (after :data:`MEMORY_FTS_DDL` on a table that already has rows).
MEMORY_FTS_REBUILD = "INSERT INTO memory_entries_fts(memory_entries_fts) VALUES ('rebuild')"
MEMORY_FTS_DROP = (
    "DROP TRIGGER IF EXISTS memory_entries_fts_ai",
    "DROP TRIGGER IF EXISTS memory_entries_fts_ad",
    "DROP TRIGGER IF EXISTS memory_entries_fts_au",
    "DROP TABLE IF EXISTS memory_entries_fts",
)
for _ddl in MEMORY_FTS_DDL:
    sa.event.listen(memory_entries, "after_create", sa.DDL(_ddl).execute_if(dialect="sqlite"))
for _ddl in MEMORY_FTS_DROP:
    sa.event.listen(memory_entries, "before_drop", sa.DDL(_ddl).execute_if(dialect="sqlite"))

#: Per (app, user) write generation: lets every process validate its cached vector matrix with a
#: primary-key lookup instead of scanning the rows.
memory_scopes = sa.Table(
    "memory_scopes",
    memory_metadata,
    sa.Column("app_name", sa.String(_ID), primary_key=True),
    sa.Column("user_id", sa.String(_ID), primary_key=True),
    sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
)

#: The current embedding model of a memory set (one per long-term store / provider id).
memory_sets = sa.Table(
    "memory_sets",
    memory_metadata,
    sa.Column("store_id", sa.String(_ID), primary_key=True),
    sa.Column("embedding_model", sa.String(512), nullable=True),
    sa.Column("dim", sa.Integer, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)

memory_reembed_jobs = sa.Table(
    "memory_reembed_jobs",
    memory_metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("store_id", sa.String(_ID), nullable=False, index=True),
    sa.Column("from_model", sa.String(512), nullable=True),
    sa.Column("to_model", sa.String(512), nullable=False),
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False),  # pending|running|done|failed|superseded
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
)

SESSION_TABLES = (session_sessions, session_events, session_state)
LONGTERM_TABLES = (memory_entries, memory_scopes, memory_sets, memory_reembed_jobs)


async def create_memory_tables(engine: AsyncEngine, tables: tuple[sa.Table, ...] | None = None) -> None:
    """Create the memory tables (all, or ``tables``) if missing. Migrations do this in production."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: memory_metadata.create_all(c, tables=list(tables) if tables else None))
