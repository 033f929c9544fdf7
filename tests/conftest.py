"""Shared fixtures: real PostgreSQL (pgvector) and redis-server per test session, app factories.

Databases: tests that take ``db_url`` run on SQLite *and* on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.services import Postgres, Redis, start_postgres, start_redis

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pg = start_postgres()
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed; run the README test command (it installs it)")
    r = start_redis()
    yield r
    r.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'magec.db'}"
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.url(pg.create_database())


@pytest.fixture
async def apps(tmp_path: Path, db_url: str) -> AsyncIterator[Apps]:
    async with running_apps(tmp_path / "data", database_url=db_url) as a:
        yield a


@pytest.fixture
async def sqlite_apps(tmp_path: Path) -> AsyncIterator[Apps]:
    async with running_apps(tmp_path / "data") as a:
        yield a
