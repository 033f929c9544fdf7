"""A deleted client's private data goes with it: a client brought back with the same id (a
restored backup carries its id and its token) sees none of the old one's conversations, artifacts,
long-term memories or A2A tasks — whether an admin deleted it or a restore dropped it. SQLite and
PostgreSQL (long-term memories in pgvector there). What an operator's records hold (the
conversation audit, usage) stays."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.services import Postgres
from tests.backup.helpers import backup, restored
from tests.memory_e2e.test_memory_runtime import tool_result

A = "/api/v1/admin"
U = "/api/v1/agent"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("brain")) as s:
        yield s


@pytest.fixture(scope="module")
def emb() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("emb", embedding_dim=3, api_key="sk-emb-key-333")) as s:
        yield s


async def _setup(apps: Apps, llm: FakeServer, emb: FakeServer, pgvector: str | None) -> str:
    """An agent served over A2A, with long-term memory (pgvector when ``pgvector`` is a URL)."""
    brain = (await apps.admin.post(f"{A}/backends", json={"name": "brain", "type": "openai", "url": llm.url})).json()
    e = (await apps.admin.post(f"{A}/backends", json={"name": "emb", "type": "openai", "url": emb.url,
                                                       "apiKey": "sk-emb-key-333"})).json()
    body: dict[str, Any] = {"name": "LT", "type": "sqlite", "category": "longterm",
                            "embedding": {"backend": e["id"], "model": "emb-small"}}
    if pgvector:
        body.update(type="postgres", config={"connectionString": pgvector})
    mem = await apps.admin.post(f"{A}/memory", json=body)
    assert mem.status_code == 201, mem.text
    assert (await apps.admin.put(f"{A}/settings", json={"longTermProvider": mem.json()["id"]})).status_code == 200
    r = await apps.admin.post(f"{A}/agents", json={"name": "A1", "llm": {"backend": brain["id"], "model": "m"},
                                                  "a2a": {"enabled": True}})
    assert r.status_code == 201, r.text
    # another client: without one, deleting the last would put the server in open mode
    assert (await apps.admin.post(f"{A}/clients", json={"name": "other", "allowedAgents": []})).status_code == 201
    return str(r.json()["id"])


async def _client(apps: Apps, aid: str) -> dict[str, Any]:
    r = await apps.admin.post(f"{A}/clients", json={"name": "shop", "allowedAgents": [aid]})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _run(apps: Apps, h: dict[str, str], aid: str, session: str, text: str) -> list[dict[str, Any]]:
    r = await apps.user.post(f"{U}/run", headers=h, json={"appName": aid, "userId": "ada", "sessionId": session,
                                                          "newMessage": {"parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _leave_traces(apps: Apps, h: dict[str, str], aid: str) -> str:
    """As the client: a conversation holding a memory save, an artifact, an A2A task; the task id."""
    saved = tool_result(await _run(apps, h, aid, "s1", 'call save_to_memory {"content": "Ada likes green tea"}'),
                        "save_to_memory")
    assert saved["success"] is True, saved
    r = await apps.user.post(f"{U}/apps/{aid}/users/ada/sessions/s1/artifacts", headers=h,
                             json={"filename": "notes.txt", "artifact": {"text": "private notes"}})
    assert r.status_code == 200, r.text
    msg = {"role": "user", "messageId": "m1", "parts": [{"kind": "text", "text": "secret plan"}]}
    r = await apps.user.post(f"/api/v1/a2a/{aid}", headers=h, json={
        "jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": msg}})
    assert r.status_code == 200 and "result" in r.json(), r.text
    return str(r.json()["result"]["id"])


async def _seen(apps: Apps, h: dict[str, str], aid: str, task_id: str) -> dict[str, Any]:
    """What the client's token reaches of the traces above."""
    sessions = (await apps.user.get(f"{U}/apps/{aid}/users/ada/sessions", headers=h)).json()
    arts = await apps.user.get(f"{U}/apps/{aid}/users/ada/sessions/s1/artifacts", headers=h)
    task = (await apps.user.post(f"/api/v1/a2a/{aid}", headers=h, json={
        "jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": task_id}})).json()
    found = tool_result(await _run(apps, h, aid, "probe", 'call search_memory {"query": "green tea"}'),
                        "search_memory")
    return {
        "sessions": sorted(s["id"] for s in sessions if s["id"] != "probe"),
        "artifacts": arts.json() if arts.status_code == 200 else [],
        "task": "secret plan" in json.dumps(task.get("result") or {}),
        "memory": "green tea" in json.dumps(found),
    }


NOTHING = {"sessions": [], "artifacts": [], "task": False, "memory": False}


def _pgvector(db_url: str, request: pytest.FixtureRequest) -> str | None:
    if not db_url.startswith("postgresql"):
        return None
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.url(pg.create_database(), driver="postgresql")


async def test_a_deleted_client_back_with_its_id_sees_nothing_of_the_old_one(
        tmp_path: Path, db_url: str, request: pytest.FixtureRequest, llm: FakeServer, emb: FakeServer) -> None:
    async with running_apps(tmp_path / "d", database_url=db_url) as apps:
        aid = await _setup(apps, llm, emb, _pgvector(db_url, request))
        client = await _client(apps, aid)
        with_client = await backup(apps)
        h = {"Authorization": f"Bearer {client['token']}"}
        task = await _leave_traces(apps, h, aid)
        assert await _seen(apps, h, aid, task) == {"sessions": ["s1"], "artifacts": ["notes.txt"],
                                                   "task": True, "memory": True}
        r = await apps.admin.delete(f"{A}/clients/{client['id']}")
        assert r.status_code == 204, r.text
        assert (await apps.user.get(f"{U}/apps/{aid}/users/ada/sessions", headers=h)).status_code == 401
        await restored(apps, with_client)  # the same id, the same token
        assert await _seen(apps, h, aid, task) == NOTHING
        # the operator's record of the old client's turns stays
        audit = (await apps.admin.get(f"{A}/conversations")).json()
        assert "green tea" in json.dumps(audit)


async def test_a_client_a_restore_dropped_comes_back_clean(tmp_path: Path, llm: FakeServer, emb: FakeServer) -> None:
    """Dropped by a restore after a restart (no process holds anything of it in memory: what it
    left is in the database only), then back."""
    async with running_apps(tmp_path / "d") as apps:
        aid = await _setup(apps, llm, emb, None)
        without = await backup(apps)
        client = await _client(apps, aid)
        with_client = await backup(apps)
        h = {"Authorization": f"Bearer {client['token']}"}
        task = await _leave_traces(apps, h, aid)
    async with running_apps(tmp_path / "d") as apps:
        await restored(apps, without)
        await restored(apps, with_client)
        assert await _seen(apps, h, aid, task) == NOTHING
