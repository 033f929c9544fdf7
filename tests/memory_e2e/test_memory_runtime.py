"""Long-term memory through running agents: embeddings from a backend, scoping, re-embedding, sessions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake

A = "/api/v1/admin"
U = "/api/v1/agent"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("brain")) as s:
        yield s


@pytest.fixture(scope="module")
def emb3() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("emb3", embedding_dim=3, api_key="sk-emb-key-333")) as s:
        yield s


@pytest.fixture(scope="module")
def emb5() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("emb5", embedding_dim=5)) as s:
        yield s


async def setup(apps: Apps, llm: FakeServer, emb: FakeServer) -> dict[str, str]:
    brain = (await apps.admin.post(f"{A}/backends", json={"name": "brain", "type": "openai", "url": llm.url})).json()
    e = (await apps.admin.post(f"{A}/backends", json={"name": "emb", "type": "openai", "url": emb.url,
                                                       "apiKey": "sk-emb-key-333", "headers": {"X-Emb": "yes"}})).json()
    mem = (await apps.admin.post(f"{A}/memory", json={"name": "LT", "type": "sqlite", "category": "longterm",
                                                       "embedding": {"backend": e["id"], "model": "emb-small"}})).json()
    assert (await apps.admin.put(f"{A}/settings", json={"longTermProvider": mem["id"]})).status_code == 200
    a1 = (await apps.admin.post(f"{A}/agents", json={"name": "A1", "llm": {"backend": brain["id"], "model": "m"}})).json()
    a2 = (await apps.admin.post(f"{A}/agents", json={"name": "A2", "llm": {"backend": brain["id"], "model": "m"}})).json()
    return {"emb": e["id"], "mem": mem["id"], "a1": a1["id"], "a2": a2["id"], "brain": brain["id"]}


async def say(apps: Apps, agent: str, user: str, session: str, text: str) -> list[dict[str, Any]]:
    r = await apps.user.post(f"{U}/run", json={"appName": agent, "userId": user, "sessionId": session,
                                               "newMessage": {"parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def final_text(events: list[dict[str, Any]]) -> str:
    return [p["text"] for e in events for p in (e.get("content") or {}).get("parts", []) if "text" in p][-1]


def tool_result(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for e in events:
        for p in (e.get("content") or {}).get("parts", []):
            if "functionResponse" in p and p["functionResponse"]["name"] == name:
                return p["functionResponse"]["response"]  # type: ignore[no-any-return]
    raise AssertionError(f"no {name} result in {json.dumps(events)[:500]}")


async def test_save_then_recall_in_new_session(sqlite_apps: Apps, llm: FakeServer, emb3: FakeServer) -> None:
    apps = sqlite_apps
    ids = await setup(apps, llm, emb3)
    llm.clear()
    emb3.clear()
    offered = None
    events = await say(apps, ids["a1"], "ada", "s1", 'call save_to_memory {"content": "Ada likes green tea", "category": "preferences"}')
    assert tool_result(events, "save_to_memory")
    offered = [t["function"]["name"] for t in llm.calls()[0].json["tools"]]
    assert {"search_memory", "save_to_memory", "update_memory", "delete_memory"} <= set(offered)
    assert "search_memory" in llm.calls()[0].json["messages"][0]["content"]  # memory instruction paragraph
    emb_req = [r for r in emb3.requests if r.route == "embeddings"][-1]
    assert emb_req.headers["authorization"] == "Bearer sk-emb-key-333" and emb_req.headers["x-emb"] == "yes"
    assert emb_req.json["model"] == "emb-small"
    # a new session of the same user finds it
    events = await say(apps, ids["a1"], "ada", "s2", 'call search_memory {"query": "green tea"}')
    assert "Ada likes green tea" in json.dumps(tool_result(events, "search_memory"))
    # another user, and another agent, do not
    events = await say(apps, ids["a1"], "bob", "s3", 'call search_memory {"query": "green tea"}')
    assert "Ada likes green tea" not in json.dumps(tool_result(events, "search_memory"))
    events = await say(apps, ids["a2"], "ada", "s4", 'call search_memory {"query": "green tea"}')
    assert "Ada likes green tea" not in json.dumps(tool_result(events, "search_memory"))
    # the admin API browses, searches and deletes
    listed = (await apps.admin.get(f"{A}/memory/entries", params={"agent": ids["a1"], "user": "ada"})).json()
    assert listed["total"] == 1 and listed["items"][0]["content"] == "Ada likes green tea"
    found = (await apps.admin.get(f"{A}/memory/entries", params={"agent": ids["a1"], "user": "ada", "q": "tea"})).json()
    assert found["items"][0]["id"] == listed["items"][0]["id"]
    assert (await apps.admin.delete(f"{A}/memory/entries/{listed['items'][0]['id']}")).status_code == 204
    assert (await apps.admin.get(f"{A}/memory/entries")).json()["total"] == 0
    health = (await apps.admin.get(f"{A}/memory/{ids['mem']}/health")).json()
    assert health["healthy"] is True


async def test_reembed_after_model_change(sqlite_apps: Apps, llm: FakeServer, emb3: FakeServer, emb5: FakeServer) -> None:
    apps = sqlite_apps
    ids = await setup(apps, llm, emb3)
    for i in range(30):
        await say(apps, ids["a1"], "ada", "s", f'call save_to_memory {{"content": "fact number {i} about tea"}}')
    e5 = (await apps.admin.post(f"{A}/backends", json={"name": "emb5", "type": "openai", "url": emb5.url})).json()
    mem = (await apps.admin.get(f"{A}/memory/{ids['mem']}")).json()
    r = await apps.admin.put(f"{A}/memory/{ids['mem']}", json={**mem, "embedding": {"backend": e5["id"], "model": "emb-big"}})
    assert r.status_code == 200
    status = (await apps.admin.get(f"{A}/memory/{ids['mem']}/reembed")).json()
    assert status["pending"] == 30 and status["model"] == f"{e5['id']}/emb-big"
    # search still works before and during the job (old rows: queries embedded with their own model)
    events = await say(apps, ids["a1"], "ada", "s2", 'call search_memory {"query": "fact number 7 about tea"}')
    assert "fact number 7 about tea" in json.dumps(tool_result(events, "search_memory"))
    job = (await apps.admin.post(f"{A}/memory/{ids['mem']}/reembed")).json()
    assert job["toModel"] == f"{e5['id']}/emb-big" and job["total"] == 30
    for _ in range(200):
        status = (await apps.admin.get(f"{A}/memory/{ids['mem']}/reembed")).json()
        if status["job"]["status"] == "done":
            break
        await asyncio.sleep(0.05)
    assert status["job"]["status"] == "done" and status["job"]["done"] == 30 and status["pending"] == 0
    items = (await apps.admin.get(f"{A}/memory/entries", params={"limit": 100})).json()["items"]
    assert {i["embeddingModel"] for i in items} == {f"{e5['id']}/emb-big"}
    assert any(r.json.get("model") == "emb-big" for r in [r for r in emb5.requests if r.route == "embeddings"])
    events = await say(apps, ids["a1"], "ada", "s3", 'call search_memory {"query": "fact number 7 about tea"}')
    assert "fact number 7 about tea" in json.dumps(tool_result(events, "search_memory"))


async def test_sessions_on_redis_provider(sqlite_apps: Apps, llm: FakeServer, redis_server: Any) -> None:
    apps = sqlite_apps
    brain = (await apps.admin.post(f"{A}/backends", json={"name": "brain", "type": "openai", "url": llm.url})).json()
    a = (await apps.admin.post(f"{A}/agents", json={"name": "A", "llm": {"backend": brain["id"], "model": "m"}})).json()
    red = (await apps.admin.post(f"{A}/memory", json={"name": "R", "type": "redis", "category": "session",
                                                       "config": {"connectionString": redis_server.url, "ttl": "1h"}})).json()
    assert (await apps.admin.get(f"{A}/memory/{red['id']}/health")).json()["healthy"] is True
    await say(apps, a["id"], "u", "sql-session", "stored in sqlite")
    assert (await apps.admin.put(f"{A}/settings", json={"sessionProvider": red["id"]})).status_code == 200
    await say(apps, a["id"], "u", "redis-session", "first")
    events = await say(apps, a["id"], "u", "redis-session", "second")
    assert final_text(events) == "brain says: second"
    hist = (await apps.user.get(f"{U}/apps/{a['id']}/users/u/sessions/redis-session")).json()
    assert len(hist["events"]) == 4
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_server.url)
    keys = [k async for k in client.scan_iter("*redis-session*")]
    ttls = [await client.ttl(k) for k in keys]
    assert keys and all(0 < t <= 3600 for t in ttls), ttls
    await client.aclose()
    # the sqlite session is not visible through the redis provider (switch applies to new requests)
    assert (await apps.user.get(f"{U}/apps/{a['id']}/users/u/sessions/sql-session")).status_code == 404
    # nothing moved either way (docs/sessions.md): switched back, the database's session is there again
    assert (await apps.admin.put(f"{A}/settings", json={"sessionProvider": ""})).status_code == 200
    r = await apps.user.get(f"{U}/apps/{a['id']}/users/u/sessions/sql-session")
    assert r.status_code == 200 and len(r.json()["events"]) == 2, r.text
    assert (await apps.user.get(f"{U}/apps/{a['id']}/users/u/sessions/redis-session")).status_code == 404


async def test_sessions_on_an_unreachable_redis_answer_503_not_500(sqlite_apps: Apps, llm: FakeServer) -> None:
    """Redis down (journey 7: sessions moved there for scale-out): a turn and a session read are
    refused as unavailable for now, with Retry-After, not a 500 "internal error"."""
    from magec.testing.services import free_port

    apps = sqlite_apps
    brain = (await apps.admin.post(f"{A}/backends", json={"name": "brain", "type": "openai", "url": llm.url})).json()
    a = (await apps.admin.post(f"{A}/agents", json={"name": "A", "llm": {"backend": brain["id"], "model": "m"}})).json()
    red = (await apps.admin.post(f"{A}/memory", json={"name": "R", "type": "redis", "category": "session",
                                                       "config": {"connectionString": f"redis://127.0.0.1:{free_port()}/0"}})).json()
    assert (await apps.admin.put(f"{A}/settings", json={"sessionProvider": red["id"]})).status_code == 200
    answers = [
        await apps.user.post(f"{U}/run", json={"appName": a["id"], "userId": "u", "sessionId": "s",
                                               "newMessage": {"parts": [{"text": "hi"}]}}),
        await apps.user.get(f"{U}/apps/{a['id']}/users/u/sessions/s"),
        await apps.user.get(f"{U}/apps/{a['id']}/users/u/sessions"),
    ]
    for r in answers:
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "unavailable" and "session store (Redis) cannot be reached" in r.json()["error"], r.text
        assert r.headers["retry-after"] == "5"


async def test_pgvector_longterm_through_agents(sqlite_apps: Apps, llm: FakeServer, emb3: FakeServer, postgres: Any) -> None:
    apps = sqlite_apps
    db = postgres.create_database()
    conn = postgres.url(db, driver="postgresql")
    brain = (await apps.admin.post(f"{A}/backends", json={"name": "brain", "type": "openai", "url": llm.url})).json()
    e = (await apps.admin.post(f"{A}/backends", json={"name": "emb", "type": "openai", "url": emb3.url,
                                                       "apiKey": "sk-emb-key-333"})).json()
    mem = (await apps.admin.post(f"{A}/memory", json={"name": "PG", "type": "postgres", "category": "longterm",
                                                       "config": {"connectionString": conn},
                                                       "embedding": {"backend": e["id"], "model": "emb-small"}})).json()
    assert (await apps.admin.get(f"{A}/memory/{mem['id']}/health")).json()["healthy"] is True
    await apps.admin.put(f"{A}/settings", json={"longTermProvider": mem["id"]})
    a = (await apps.admin.post(f"{A}/agents", json={"name": "A", "llm": {"backend": brain["id"], "model": "m"}})).json()
    await say(apps, a["id"], "ada", "s1", 'call save_to_memory {"content": "the cat is called Tom"}')
    events = await say(apps, a["id"], "ada", "s2", 'call search_memory {"query": "cat name"}')
    assert "the cat is called Tom" in json.dumps(tool_result(events, "search_memory"))


async def test_selecting_postgres_without_pgvector_is_refused(sqlite_apps: Apps, postgres: Any) -> None:
    apps = sqlite_apps
    db = postgres.create_database()
    postgres._server.psql(f'CREATE ROLE np_{db} LOGIN; ALTER DATABASE "{db}" OWNER TO np_{db};')
    postgres._server.psql(f'\\c "{db}"\nDROP EXTENSION IF EXISTS vector;')
    url = postgres.url(db, driver="postgresql")
    conn = f"postgresql://np_{db}@" + url.split("@", 1)[1]
    mem = (await apps.admin.post(f"{A}/memory", json={"name": "PG", "type": "postgres", "category": "longterm",
                                                       "config": {"connectionString": conn}})).json()
    health = (await apps.admin.get(f"{A}/memory/{mem['id']}/health")).json()
    assert health["healthy"] is False and "pgvector" in health["detail"]
    r = await apps.admin.put(f"{A}/settings", json={"longTermProvider": mem["id"]})
    assert r.status_code == 400 and "pgvector extension is not available" in r.json()["error"]


async def test_cli_reembed_with_progress(tmp_path: Any, llm: FakeServer, emb3: FakeServer, emb5: FakeServer) -> None:
    import subprocess
    import sys

    from magec.testing.apps import running_apps

    data = tmp_path / "data"
    async with running_apps(data, encryption_key="k") as apps:
        ids = await setup(apps, llm, emb3)
        for i in range(5):
            await say(apps, ids["a1"], "ada", "s", f'call save_to_memory {{"content": "note {i}"}}')
        e5 = (await apps.admin.post(f"{A}/backends", json={"name": "emb5", "type": "openai", "url": emb5.url})).json()
        mem = (await apps.admin.get(f"{A}/memory/{ids['mem']}")).json()
        await apps.admin.put(f"{A}/memory/{ids['mem']}", json={**mem, "embedding": {"backend": e5["id"], "model": "big"}})
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"server: {{encryptionKey: k}}\ndataDir: {data}\nlog: {{format: json}}\n")
    r = subprocess.run([sys.executable, "-m", "magec", "memory", "reembed", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "done (5/5)" in r.stderr
    # the command's own words, not the server's log: a config that sends the server's log to a
    # collector as JSON lines (log.format: json) printed `{"time": ..., "level": "info", ...}` here
    out = r.stdout + r.stderr
    assert '"level"' not in out and " INFO " not in out and "magec.runtime" not in out, out
    async with running_apps(data, encryption_key="k") as apps:
        items = (await apps.admin.get(f"{A}/memory/entries")).json()["items"]
        assert {i["embeddingModel"] for i in items} == {f"{e5['id']}/big"}


async def test_a_users_memory_is_bounded(tmp_path: Any, llm: FakeServer, emb3: FakeServer) -> None:
    """Long-term memories counted against nothing: a client steering the model could save without
    end. ``limits.maxMemoriesPerUser`` (per agent and user) and one fact's length bound it; the
    model is told, and can update or forget one instead."""
    from magec.memory.tools import MAX_MEMORY_CHARS
    from magec.testing.apps import running_apps

    async with running_apps(tmp_path / "d", config={"max_memories_per_user": 2}) as apps:
        ids = await setup(apps, llm, emb3)
        for i in range(2):
            res = tool_result(await say(apps, ids["a1"], "ada", f"s{i}", f'call save_to_memory {{"content": "fact {i}"}}'),
                              "save_to_memory")
            assert res["success"] is True, res
        res = tool_result(await say(apps, ids["a1"], "ada", "s3", 'call save_to_memory {"content": "fact 3"}'), "save_to_memory")
        assert res == {"success": False, "error": "long-term memory is full for this user (2 memories): "
                                                  "update or delete an old one first"}
        # another user, and the same user with another agent, have their own room
        res = tool_result(await say(apps, ids["a1"], "bob", "s4", 'call save_to_memory {"content": "fact b"}'), "save_to_memory")
        assert res["success"] is True
        res = tool_result(await say(apps, ids["a2"], "ada", "s5", 'call save_to_memory {"content": "fact a2"}'), "save_to_memory")
        assert res["success"] is True
        listed = (await apps.admin.get(f"{A}/memory/entries?user=ada&agent={ids['a1']}")).json()
        assert listed["total"] == 2
        long = "x" * (MAX_MEMORY_CHARS + 1)
        call = "call save_to_memory " + json.dumps({"content": long})
        res = tool_result(await say(apps, ids["a1"], "bob", "s6", call), "save_to_memory")
        assert res["success"] is False and "content: at most" in res["error"], res
        call = "call save_to_memory " + json.dumps({"content": "short", "category": "c" * 101})
        res = tool_result(await say(apps, ids["a1"], "bob", "s7", call), "save_to_memory")
        assert res["success"] is False and "category: at most 100" in res["error"], res
