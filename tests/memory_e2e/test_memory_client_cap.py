"""Long-term memories per client: ``limits.maxMemoriesPerClient``.

``limits.maxMemoriesPerUser`` bounds one user's memories with one agent, but a client names its
users: a token holder inventing user ids (``u1``, ``u2``, …) grew the memory store without bound.
Each memory now records its client (``memory_entries.client``) and a save beyond the client's cap
is refused to the model, whichever user and agent it is for."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.backup.helpers import members, tar_gz
from tests.memory_e2e.test_memory_runtime import A, U, setup, tool_result

FULL = ("long-term memory is full for this client (3 memories, limits.maxMemoriesPerClient): "
        "update or delete an old one first")


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("brain")) as s:
        yield s


@pytest.fixture(scope="module")
def emb3() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("emb3", embedding_dim=3, api_key="sk-emb-key-333")) as s:
        yield s


def _revision_before(name: str) -> str:
    """The revision the migration ``*_<name>`` follows (whatever its number at merge)."""
    from magec.store.migrate import MIGRATIONS

    [path] = (MIGRATIONS / "versions").glob(f"*_{name}.py")
    found = re.search(r'^down_revision = "([^"]+)"', path.read_text(), re.M)
    assert found is not None
    return found.group(1)


async def save(apps: Apps, token: str, agent: str, user: str, fact: str) -> dict[str, Any]:
    r = await apps.user.post(f"{U}/run", headers={"Authorization": f"Bearer {token}"}, json={
        "appName": agent, "userId": user, "sessionId": f"s-{fact}",
        "newMessage": {"parts": [{"text": f'call save_to_memory {{"content": "{fact}"}}'}]}})
    assert r.status_code == 200, r.text
    return tool_result(r.json(), "save_to_memory")


async def test_a_client_inventing_users_is_capped(tmp_path: Path, llm: FakeServer, emb3: FakeServer) -> None:
    config = {"max_memories_per_user": 2, "max_memories_per_client": 3}
    async with running_apps(tmp_path / "d", config=config) as apps:
        ids = await setup(apps, llm, emb3)
        agents = [ids["a1"], ids["a2"]]
        one = (await apps.admin.post(f"{A}/clients", json={"name": "one", "allowedAgents": agents})).json()
        two = (await apps.admin.post(f"{A}/clients", json={"name": "two", "allowedAgents": agents})).json()
        # each user is under its own cap; together they reach the client's
        assert (await save(apps, one["token"], ids["a1"], "u1", "f1"))["success"] is True
        assert (await save(apps, one["token"], ids["a1"], "u2", "f2"))["success"] is True
        assert (await save(apps, one["token"], ids["a2"], "u3", "f3"))["success"] is True
        # a new user id (or another agent) does not make room
        assert await save(apps, one["token"], ids["a1"], "u4", "f4") == {"success": False, "error": FULL}
        assert await save(apps, one["token"], ids["a2"], "u1", "f5") == {"success": False, "error": FULL}
        # another client has its own room
        assert (await save(apps, two["token"], ids["a1"], "u1", "g1"))["success"] is True
        assert (await apps.admin.get(f"{A}/memory/entries")).json()["total"] == 4
        # forgetting one makes room again
        mine = (await apps.admin.get(f"{A}/memory/entries?client={one['id']}&user=u1")).json()["items"]
        assert len(mine) == 1
        assert (await apps.admin.delete(f"{A}/memory/entries/{mine[0]['id']}")).status_code in (200, 204)
        assert (await save(apps, one["token"], ids["a1"], "u5", "f6"))["success"] is True


async def test_memories_saved_before_the_column_count_for_their_client(
        tmp_path: Path, llm: FakeServer, emb3: FakeServer) -> None:
    """A database from before ``memory_entries.client``: migration 0013 fills it from each row's
    owner key, so what a client saved before counts against its cap after the upgrade."""
    data = tmp_path / "d"
    async with running_apps(data, config={"max_memories_per_client": 0}) as apps:
        ids = await setup(apps, llm, emb3)
        one = (await apps.admin.post(f"{A}/clients", json={"name": "one", "allowedAgents": [ids["a1"]]})).json()
        for i in range(3):
            assert (await save(apps, one["token"], ids["a1"], f"u{i}", f"old{i}"))["success"] is True
    before = _revision_before("memory_clients")
    with sqlite3.connect(data / "magec.db") as raw:  # the table as it was before 0013
        raw.execute("DROP INDEX ix_memory_entries_client")
        raw.execute("ALTER TABLE memory_entries DROP COLUMN client")
        raw.execute("UPDATE alembic_version SET version_num = ?", (before,))  # the later ones run again
    async with running_apps(data, config={"max_memories_per_client": 3}) as apps:
        assert await save(apps, one["token"], ids["a1"], "new", "f") == {"success": False, "error": FULL}
    with sqlite3.connect(data / "magec.db") as raw:
        assert raw.execute("SELECT count(*) FROM memory_entries WHERE client != ''").fetchone() == (3,)


async def test_an_older_backups_memories_count_for_their_client(
        tmp_path: Path, db_url: str, llm: FakeServer, emb3: FakeServer) -> None:
    """A backup from before ``memory_entries.client`` (its rows have no ``client``), restored
    through the Admin API into a server with the cap: each client's restored memories count for
    it, not for the other client. Two things see to it: the column's default (the restore inserts
    through the table) and ``_after_memories``, which fills what is still empty from each owner key."""
    async with running_apps(tmp_path / "a", config={"max_memories_per_client": 0}) as apps:
        ids = await setup(apps, llm, emb3)
        one = (await apps.admin.post(f"{A}/clients", json={"name": "one", "allowedAgents": [ids["a1"]]})).json()
        two = (await apps.admin.post(f"{A}/clients", json={"name": "two", "allowedAgents": [ids["a1"]]})).json()
        for i in range(3):
            assert (await save(apps, one["token"], ids["a1"], f"u{i}", f"one{i}"))["success"] is True
        assert (await save(apps, two["token"], ids["a1"], "u0", "two0"))["success"] is True
        r = await apps.admin.get(f"{A}/settings/backup?include=memories")
        assert r.status_code == 200, r.text
    files = members(r.content)
    name = "tables/memories/memory_entries.jsonl"
    rows = [json.loads(line) for line in files[name].splitlines()]
    assert len(rows) == 4 and all(row.pop("client") for row in rows), rows  # as an older magec wrote them
    files[name] = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    async with running_apps(tmp_path / "b", database_url=db_url, config={"max_memories_per_client": 3}) as apps:
        r = await apps.admin.post(f"{A}/settings/restore?include=memories", content=tar_gz(files),
                                  headers={"content-type": "application/gzip"})
        assert r.status_code == 200, r.text
        assert r.json()["sections"]["memories"]["memory_entries"] == 4
        # client one had three: a new user id does not make room
        assert await save(apps, one["token"], ids["a1"], "u9", "one9") == {"success": False, "error": FULL}
        # client two had one: two more fit, then it is full too
        assert (await save(apps, two["token"], ids["a1"], "u1", "two1"))["success"] is True
        assert (await save(apps, two["token"], ids["a1"], "u2", "two2"))["success"] is True
        assert await save(apps, two["token"], ids["a1"], "u3", "two3") == {"success": False, "error": FULL}
