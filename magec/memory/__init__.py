"""The memory layer: ADK session services and long-term memory (see the submodules' contracts).

* Sessions: :class:`~magec.memory.sql_sessions.SqlSessionService` (SQLite / PostgreSQL),
  :class:`~magec.memory.redis_sessions.RedisSessionService`.
* Tables: :mod:`magec.memory.tables` (``memory_metadata``, :func:`create_memory_tables`).
"""

from magec.memory.redis_sessions import RedisSessionService
from magec.memory.session_base import MagecSessionService
from magec.memory.sql_sessions import SqlSessionService
from magec.memory.tables import create_memory_tables, memory_metadata

__all__ = [
    "MagecSessionService",
    "RedisSessionService",
    "SqlSessionService",
    "create_memory_tables",
    "memory_metadata",
]
