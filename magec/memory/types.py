"""Memory provider types for the Admin API, their health checks, and building them from a record.

``MEMORY_TYPES`` is served as-is (``GET /api/v1/admin/memory/types``): ``type``, ``displayName``,
``categories`` (``session`` / ``longterm``), ``configSchema`` (JSON Schema of ``config``).

* ``sqlite`` — embedded, both categories, no config (lives in magec's own database).
* ``redis`` — sessions; ``connectionString`` (``redis://[user:pass@]host[:6379][/db]``), ``ttl``
  (Go duration, default ``24h``; an invalid value falls back to 24h as in Magec).
* ``postgres`` — long-term memory with pgvector; ``connectionString`` (``postgres://…``).

:func:`check_health` answers ``{"healthy": bool, "detail": str}`` within 5 s and never raises.
:func:`open_session_service` / :func:`open_longterm_store` build the runtime objects (raising
``ConfigError`` with a clear text, e.g. when pgvector is missing).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.errors import ConfigError
from magec.memory.embedder import EmbedderLike, ResolveEmbedder
from magec.memory.event_cache import DEFAULT_MAX_BYTES
from magec.memory.longterm import LongTermStore
from magec.memory.pgvector_longterm import PgVectorLongTermStore
from magec.memory.redis_sessions import RedisSessionService
from magec.memory.session_base import MagecSessionService
from magec.memory.sql_longterm import SqlLongTermStore
from magec.memory.sql_sessions import SqlSessionService
from magec.redact import redact

log = logging.getLogger(__name__)

HEALTH_TIMEOUT = 5.0
DEFAULT_TTL = "24h"

MEMORY_TYPES: list[dict[str, Any]] = [
    {
        "type": "sqlite",
        "displayName": "SQLite (embedded)",
        "categories": ["session", "longterm"],
        "description": "Stored in magec's own database; vector search with numpy. Nothing to configure.",
        "configSchema": {"type": "object", "properties": {}, "additionalProperties": False},
    },
    {
        "type": "redis",
        "displayName": "Redis",
        "categories": ["session"],
        "description": "Sessions in Redis, expiring after a period without use.",
        "configSchema": {
            "type": "object",
            "properties": {
                "connectionString": {
                    "type": "string",
                    "title": "Connection string",
                    "description": "redis://[user:password@]host[:6379][/db]",
                    "format": "uri",
                    "x-sensitive": True,
                },
                "ttl": {
                    "type": "string",
                    "title": "Session TTL",
                    "description": "Go duration, e.g. 24h, 90m, 1h30m",
                    "default": DEFAULT_TTL,
                    "pattern": r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$",
                },
            },
            "required": ["connectionString"],
        },
    },
    {
        "type": "postgres",
        "displayName": "PostgreSQL + pgvector",
        "categories": ["longterm"],
        "description": "Long-term memory in PostgreSQL with the pgvector extension (HNSW index).",
        "configSchema": {
            "type": "object",
            "properties": {
                "connectionString": {
                    "type": "string",
                    "title": "Connection string",
                    "description": "postgres://user:password@host:5432/database[?sslmode=require]",
                    "format": "uri",
                    "x-sensitive": True,
                },
            },
            "required": ["connectionString"],
        },
    },
]

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Go ``time.ParseDuration`` → seconds: ``"24h"``, ``"90m"``, ``"1h30m"``, ``"1.5s"``, ``"-2m"``, ``"0"``."""
    s = (text or "").strip()
    sign = -1.0 if s.startswith("-") else 1.0
    body = s.lstrip("+-")
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(body):
        m = _PART.match(body, pos)
        if m is None:
            raise ConfigError(f"invalid duration {text!r} (use e.g. 24h, 90m, 1h30m)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not body:
        raise ConfigError(f"invalid duration {text!r} (use e.g. 24h, 90m, 1h30m)")
    return sign * total


def ttl_seconds(config: dict[str, Any]) -> int:
    """The Redis TTL of a provider config; missing or invalid → 24h (Magec's behaviour, logged)."""
    raw = str(config.get("ttl") or DEFAULT_TTL)
    try:
        seconds = parse_duration(raw)
    except ConfigError:
        log.warning("invalid redis ttl %r, using %s", raw, DEFAULT_TTL)
        return int(parse_duration(DEFAULT_TTL))
    return int(seconds) if seconds >= 1 else int(parse_duration(DEFAULT_TTL))


def _connection_string(type_: str, config: dict[str, Any]) -> str:
    value = str(config.get("connectionString") or "").strip()
    if not value:
        raise ConfigError(f"{type_} memory needs config.connectionString")
    return value


def _type(type_: str) -> dict[str, Any]:
    for t in MEMORY_TYPES:
        if t["type"] == type_:
            return t
    raise ConfigError(f"unknown memory provider type {type_!r} (known: {', '.join(t['type'] for t in MEMORY_TYPES)})")


async def _redis_health(config: dict[str, Any]) -> tuple[bool, str]:
    client = aioredis.from_url(_connection_string("redis", config), socket_connect_timeout=HEALTH_TIMEOUT)
    try:
        await client.ping()
        info = await client.info("server")
        return True, f"redis {info.get('redis_version', '?')}; session TTL {ttl_seconds(config)} s"
    finally:
        await client.aclose()


async def _postgres_health(config: dict[str, Any]) -> tuple[bool, str]:
    store = PgVectorLongTermStore(_connection_string("postgres", config), None)
    try:
        return await store.health()
    finally:
        await store.close()


async def check_health(type: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"healthy", "detail"}`` of a provider config, within :data:`HEALTH_TIMEOUT` s; never raises."""
    config = config or {}
    try:
        _type(type)
        if type == "sqlite":
            ok, detail = True, "embedded SQLite (magec's own database)"
        elif type == "redis":
            ok, detail = await asyncio.wait_for(_redis_health(config), HEALTH_TIMEOUT)
        else:
            ok, detail = await asyncio.wait_for(_postgres_health(config), HEALTH_TIMEOUT)
    except TimeoutError:
        ok, detail = False, f"no answer within {HEALTH_TIMEOUT:g} s"
    except Exception as e:  # noqa: BLE001 - health reports, never raises
        ok, detail = False, str(e) or e.__class__.__name__
    return {"healthy": ok, "detail": redact(detail)}


def open_session_service(
    type: str, config: dict[str, Any] | None, engine: AsyncEngine, *, cache_bytes: int = DEFAULT_MAX_BYTES
) -> MagecSessionService:
    """The session service of a ``session`` provider (``engine`` = magec's database, for ``sqlite``;
    ``cache_bytes``: its parsed-event cache, :mod:`magec.memory.event_cache`)."""
    config = config or {}
    if "session" not in _type(type)["categories"]:
        raise ConfigError(f"memory type {type!r} cannot store sessions")
    if type == "redis":
        return RedisSessionService(_connection_string("redis", config), ttl_seconds=ttl_seconds(config))
    return SqlSessionService(engine, cache_bytes=cache_bytes)


async def open_longterm_store(
    type: str,
    config: dict[str, Any] | None,
    engine: AsyncEngine,
    embedder: EmbedderLike | None,
    *,
    store_id: str = "default",
    resolve_embedder: ResolveEmbedder | None = None,
) -> LongTermStore:
    """The started long-term store of a ``longterm`` provider. ``postgres`` without pgvector →
    ``ConfigError("pgvector extension is not available in this PostgreSQL (…)")``."""
    config = config or {}
    if "longterm" not in _type(type)["categories"]:
        raise ConfigError(f"memory type {type!r} cannot store long-term memory")
    store: SqlLongTermStore
    if type == "postgres":
        store = PgVectorLongTermStore(
            _connection_string("postgres", config), embedder, store_id=store_id, resolve_embedder=resolve_embedder
        )
    else:
        store = SqlLongTermStore(engine, embedder, store_id=store_id, resolve_embedder=resolve_embedder)
    try:
        await store.start()
    except Exception:
        await store.close()
        raise
    return store
