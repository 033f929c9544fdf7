"""The memory layer: ADK session services, long-term memory, re-embedding, agent tools.

* Sessions (ADK ``BaseSessionService``): :class:`SqlSessionService` (SQLite / PostgreSQL),
  :class:`RedisSessionService`; both have ``get_or_create_session``.
* Long-term memory (:class:`LongTermStore`): :class:`SqlLongTermStore` (SQLite + numpy, or plain
  PostgreSQL), :class:`PgVectorLongTermStore` (PostgreSQL + pgvector); :class:`Embedder` adapts a
  backend's embeddings role; :class:`ReembedJob` moves rows to a new embedding model.
* Agent tools: :func:`memory_tools`, :data:`MEMORY_INSTRUCTION`.
* Provider types for the Admin API: :mod:`magec.memory.types`.
* Tables: :mod:`magec.memory.tables` (``memory_metadata``, :func:`create_memory_tables`).
"""

from magec.memory.embedder import Embedder, EmbedderLike
from magec.memory.longterm import PGVECTOR_MISSING, LongTermStore, MemoryEntry
from magec.memory.pgvector_longterm import PgVectorLongTermStore
from magec.memory.redis_sessions import RedisSessionService
from magec.memory.reembed import JobInfo, ReembedJob, get_job, list_jobs
from magec.memory.session_base import MagecSessionService
from magec.memory.sql_longterm import SqlLongTermStore
from magec.memory.sql_sessions import SqlSessionService
from magec.memory.tables import create_memory_tables, memory_metadata
from magec.memory.tools import MEMORY_INSTRUCTION, memory_tools

__all__ = [
    "MEMORY_INSTRUCTION",
    "PGVECTOR_MISSING",
    "Embedder",
    "EmbedderLike",
    "JobInfo",
    "LongTermStore",
    "MagecSessionService",
    "MemoryEntry",
    "PgVectorLongTermStore",
    "RedisSessionService",
    "ReembedJob",
    "SqlLongTermStore",
    "SqlSessionService",
    "create_memory_tables",
    "get_job",
    "list_jobs",
    "memory_metadata",
    "memory_tools",
]
