"""Hostile: a client token holder steers the model into a huge ``search_memory`` query.

The memory tools cap what they store (a fact is at most ``MAX_MEMORY_CHARS``), but not what they
search for: the query went whole to the embedding backend and through ``query_terms``, which kept
every distinct word it met in a list and looked each new one up in it. A 320 KB query of distinct
words (one message, far inside the 2 MiB body limit) held the event loop — every other client's
requests — for 6 s per tool call (full-text search: a store without an embedding model, or rows
no embedder reaches). A query longer than a stored fact is now refused to
the model, and the word scan stops at the words it keeps.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from magec.memory.tools import MAX_MEMORY_CHARS
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.memory_e2e.test_memory_runtime import A, U, tool_result
from tests.security.stalls import slowest_health_wait


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("brain")) as s:
        yield s


async def setup(apps: Apps, llm: FakeServer) -> str:
    """An agent with long-term memory searched by full text (no embedding model)."""
    brain = (await apps.admin.post(f"{A}/backends", json={"name": "brain", "type": "openai", "url": llm.url})).json()
    mem = (await apps.admin.post(f"{A}/memory", json={"name": "LT", "type": "sqlite", "category": "longterm"})).json()
    assert (await apps.admin.put(f"{A}/settings", json={"longTermProvider": mem["id"]})).status_code == 200
    agent = (await apps.admin.post(f"{A}/agents", json={"name": "A1", "llm": {"backend": brain["id"], "model": "m"}}))
    return str(agent.json()["id"])


async def test_a_huge_memory_query_is_refused_without_holding_the_server(sqlite_apps: Apps, llm: FakeServer) -> None:
    apps = sqlite_apps
    ids = {"a1": await setup(apps, llm)}
    client = (await apps.admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": [ids["a1"]]})).json()
    h = {"Authorization": f"Bearer {client['token']}"}
    r = await apps.user.post(f"{U}/run", headers=h, json={
        "appName": ids["a1"], "userId": "u", "sessionId": "s0",
        "newMessage": {"parts": [{"text": 'call save_to_memory {"content": "u likes green tea"}'}]}})
    assert tool_result(r.json(), "save_to_memory")["success"] is True
    query = " ".join(f"w{i:06d}" for i in range(40_000))  # 320 KB of distinct words
    text = "call search_memory " + json.dumps({"query": query})

    async def turn() -> list[dict[str, object]]:
        r = await apps.user.post(f"{U}/run", headers=h, json={
            "appName": ids["a1"], "userId": "u", "sessionId": "s",
            "newMessage": {"parts": [{"text": text}]}}, timeout=120)
        assert r.status_code == 200, r.text[:300]
        return r.json()  # type: ignore[no-any-return]

    running = asyncio.create_task(turn())
    slowest = await slowest_health_wait(apps.user, running)  # another caller polling meanwhile
    events = await running
    assert tool_result(events, "search_memory") == {
        "success": False, "error": f"query: at most {MAX_MEMORY_CHARS} characters; got {len(query)}"}
    assert slowest < 1.0, f"a health check waited {slowest:.1f} s behind the memory search"

    # an ordinary query still searches
    r = await apps.user.post(f"{U}/run", headers=h, json={
        "appName": ids["a1"], "userId": "u", "sessionId": "s2",
        "newMessage": {"parts": [{"text": 'call search_memory {"query": "green tea"}'}]}})
    assert "u likes green tea" in json.dumps(tool_result(r.json(), "search_memory"))
