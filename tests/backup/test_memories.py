"""Sessions and long-term memories travel across databases: SQLite backup restored into PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.services import Postgres
from tests.backup.helpers import A, U, members, restore


@pytest.fixture(scope="module")
def emb() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("emb", embedding_dim=3)) as s:
        yield s


async def say(apps: Apps, agent: str, session: str, text: str) -> str:
    r = await apps.user.post(f"{U}/run", json={"appName": agent, "userId": "ada", "sessionId": session,
                                               "newMessage": {"parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    return json.dumps(r.json())


async def test_sqlite_to_postgres_with_memories(tmp_path: Path, provider: FakeServer, emb: FakeServer,
                                                postgres: Postgres) -> None:
    async with running_apps(tmp_path / "a") as a:
        brain = (await a.admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": provider.url})).json()
        e = (await a.admin.post(f"{A}/backends", json={"name": "e", "type": "openai", "url": emb.url})).json()
        mem = (await a.admin.post(f"{A}/memory", json={"name": "LT", "type": "sqlite", "category": "longterm",
                                                       "embedding": {"backend": e["id"], "model": "m3"}})).json()
        assert (await a.admin.put(f"{A}/settings", json={"longTermProvider": mem["id"]})).status_code == 200
        agent = (await a.admin.post(f"{A}/agents", json={"name": "M", "llm": {"backend": brain["id"],
                                                                               "model": "m"}})).json()["id"]
        await say(a, agent, "s1", 'call save_to_memory {"content": "Ada likes green tea"}')
        entries: dict[str, Any] = (await a.admin.get(f"{A}/memory/entries")).json()
        assert entries["total"] == 1
        r = await a.admin.get(f"{A}/settings/backup?include=memories,sessions")
        assert r.status_code == 200
        archive = r.content
    async with running_apps(tmp_path / "b", database_url=postgres.url(postgres.create_database())) as b:
        r = await restore(b, archive)
        assert r.status_code == 200, r.text
        assert r.json()["sections"]["memories"]["memory_entries"] == 1
        assert (await b.admin.get(f"{A}/memory/entries")).json() == entries
        # the restored vectors answer a search in a new session on the other database
        found = await say(b, agent, "s2", 'call search_memory {"query": "green tea"}')
        assert "Ada likes green tea" in found
        # and new memories get fresh ids (the PostgreSQL sequence moved past the restored ones)
        await say(b, agent, "s3", 'call save_to_memory {"content": "Ada lives in Tenerife"}')
        after = (await b.admin.get(f"{A}/memory/entries")).json()
        assert after["total"] == 2 and len({i["id"] for i in after["items"]}) == 2
        # the session history came along too
        r = await b.user.get(f"{U}/apps/{agent}/users/ada/sessions/s1")
        assert r.status_code == 200 and "green tea" in r.text
        # and a backup made on PostgreSQL (repeatable-read snapshot, streamed rows) carries them back
        r = await b.admin.get(f"{A}/settings/backup?include=memories,sessions")
        assert r.status_code == 200, r.text
        files = members(r.content)
        lines = files["tables/memories/memory_entries.jsonl"].splitlines()
        assert len(lines) == 2 and all(json.loads(x)["embedding"] for x in lines)
        assert json.loads(files["manifest.json"])["sections"]["sessions"]["session_sessions"] == 3
