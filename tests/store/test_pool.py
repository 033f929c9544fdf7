"""Database pools sized from the turn limits (magec.store.pool): an exhausted pool is a 503
``overloaded`` with ``Retry-After`` — never SQLAlchemy's "QueuePool limit … reached" — and a turn
holds no connection while it waits on its provider. Driven as a client of the run API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from magec.config import load_config
from magec.store.pool import PG_CAP, RESERVE, SQLITE_CAP, pool_sizing
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.services import Postgres
from tests.runtime.test_run_api import make_agent, texts

U = "/api/v1/agent"
SQLITE = "sqlite+aiosqlite:///data/magec.db"
PG = "postgresql+asyncpg://u@db/magec"


def _run(aid: str, user: str, text: str, **extra: object) -> dict[str, object]:
    return {"appName": aid, "userId": user, "newMessage": {"role": "user", "parts": [{"text": text}]}, **extra}


def test_sizing_follows_the_limits(tmp_path: Path) -> None:
    # SQLite: one connection per admitted turn, plus the reserve for background work
    assert pool_sizing(SQLITE, 50).total == 50 + RESERVE
    assert pool_sizing(SQLITE, 1024).total == 1024 + RESERVE
    assert pool_sizing(SQLITE, 0).total == SQLITE_CAP + RESERVE  # no limit: as for the default
    # PostgreSQL: connections are server processes shared by every replica: capped per process
    assert pool_sizing(PG, 4).total == 4 + RESERVE
    assert pool_sizing(PG, 1024).total == PG_CAP
    # database.poolSize wins; the timeout is short (SQLAlchemy's own is 30 s)
    assert pool_sizing(SQLITE, 1024, pool_size=7).total == 7
    assert pool_sizing(PG, 1024).timeout <= 10
    cfg = tmp_path / "config.yaml"
    cfg.write_text("database: {poolSize: 12, poolTimeout: 2.5}\nlimits: {maxRuns: 300}\n")
    loaded = load_config(cfg, env={})
    assert (loaded.db_pool_size, loaded.db_pool_timeout, loaded.max_runs) == (12, 2.5, 300)


@pytest.fixture
def slow() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("slow", api_key="sk-x-key-1234")) as s:
        yield s


@pytest.fixture
async def tiny_pool(tmp_path: Path, db_url: str) -> AsyncIterator[Apps]:
    async with running_apps(tmp_path / "data", database_url=db_url,
                            config={"db_pool_size": 2, "db_pool_timeout": 2.5}) as apps:  # fmt: skip
        yield apps


@pytest.fixture
async def tiny_pool_pg(tmp_path: Path, postgres: Postgres) -> AsyncIterator[Apps]:
    async with running_apps(tmp_path / "data", database_url=postgres.url(postgres.create_database()),
                            config={"db_pool_size": 2, "db_pool_timeout": 2.5}) as apps:  # fmt: skip
        yield apps


def _overloaded(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert r.json()["code"] == "overloaded" and "database.poolSize" in r.json()["error"]
    assert "QueuePool" not in r.text and "sqlalchemy" not in r.text.lower()


async def test_exhausted_pool_is_503_overloaded_with_retry_after(tiny_pool_pg: Apps, slow: FakeServer) -> None:
    """On PostgreSQL a turn reads its session through the pool."""
    apps = tiny_pool_pg
    _, aid = await make_agent(apps, slow)
    r = await apps.user.post(f"{U}/run", json=_run(aid, "u1", "first"))
    assert r.status_code == 200 and texts(r.json()) == ["slow says: first"]
    engine = apps.ctx.store.engine
    # every connection of the pool taken (as by work that outlasts the pool timeout)
    async with engine.connect() as one, engine.connect() as two:
        assert one is not two
        _overloaded(await apps.user.post(f"{U}/run", json=_run(aid, "u1", "second")))
        # a stream is refused the same way, before it opens (its session is read first)
        _overloaded(await apps.user.post(f"{U}/run_sse", json=_run(aid, "u1", "third", streaming=True)))
    # the connections are back: served again
    r = await apps.user.post(f"{U}/run", json=_run(aid, "u1", "fourth"))
    assert r.status_code == 200 and texts(r.json()) == ["slow says: fourth"]


async def test_sqlite_turns_need_no_pool_connection(tmp_path: Path, slow: FakeServer) -> None:
    """On a SQLite file sessions are read and written by the session service's own threads: a turn
    is served with every pool connection taken; what does need one (an admin write) is a 503."""
    async with running_apps(tmp_path / "data", config={"db_pool_size": 2, "db_pool_timeout": 2.5}) as apps:
        _, aid = await make_agent(apps, slow)
        engine = apps.ctx.store.engine
        async with engine.connect(), engine.connect():
            for text in ("first", "second"):
                r = await apps.user.post(f"{U}/run", json=_run(aid, "u1", text, sessionId="s1"))
                assert r.status_code == 200 and texts(r.json()) == [f"slow says: {text}"], r.text
            _overloaded(await apps.admin.post("/api/v1/admin/agents", json={"name": "Later"}))
        r = await apps.user.get(f"{U}/apps/{aid}/users/u1/sessions/s1")
        assert [e["content"]["parts"][0]["text"] for e in r.json()["events"]] == [
            "first", "slow says: first", "second", "slow says: second"]


async def test_a_turn_holds_no_connection_while_it_waits_on_the_provider(tiny_pool: Apps, slow: FakeServer) -> None:
    apps = tiny_pool
    _, aid = await make_agent(apps, slow)
    # six turns, each waiting 4 s on the provider, through a pool of 2 with a 2.5 s timeout: had a
    # turn kept its connection while waiting, the third one would be refused as overloaded
    slow.script(*[Reply(text=f"slow answer {i}", delay=4.0) for i in range(6)])
    runs = [apps.user.post(f"{U}/run", json=_run(aid, f"user{i}", f"q{i}")) for i in range(6)]
    done = await asyncio.gather(*runs)
    assert [r.status_code for r in done] == [200] * 6, [r.text[:200] for r in done]
    assert sorted(t for r in done for t in texts(r.json())) == [f"slow answer {i}" for i in range(6)]
