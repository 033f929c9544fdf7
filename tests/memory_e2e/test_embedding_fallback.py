"""Embedding fallbacks of a long-term memory provider, through a running agent: a memory saved while
the primary embedding backend is down is embedded by the fallback (stored under the fallback's
model, never mixed with the primary's vectors) and found again by vector search with that model."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.memory_e2e.test_memory_runtime import A, final_text, say, tool_result


@pytest.fixture(scope="module")
def brain() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("brain")) as s:
        yield s


@pytest.fixture(scope="module")
def spare() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("spare", embedding_dim=4)) as s:
        yield s


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


async def test_memory_embedded_by_fallback_when_primary_is_down(
    sqlite_apps: Apps, brain: FakeServer, spare: FakeServer
) -> None:
    apps = sqlite_apps
    b = (await apps.admin.post(f"{A}/backends", json={"name": "brain", "type": "openai", "url": brain.url})).json()
    dead = (await apps.admin.post(f"{A}/backends", json={"name": "dead-emb", "type": "openai", "url": _dead_url(),
                                                          "connectTimeout": 1.0, "maxAttempts": 1})).json()
    ok = (await apps.admin.post(f"{A}/backends", json={"name": "spare-emb", "type": "openai", "url": spare.url})).json()
    mem = await apps.admin.post(f"{A}/memory", json={
        "name": "LT", "type": "sqlite", "category": "longterm",
        "embedding": {"backend": dead["id"], "model": "emb-main", "fallbacks": [{"backend": ok["id"], "model": "emb-spare"}]},
    })
    assert mem.status_code in (200, 201), mem.text
    assert mem.json()["embedding"]["fallbacks"] == [{"backend": ok["id"], "model": "emb-spare"}]
    assert (await apps.admin.put(f"{A}/settings", json={"longTermProvider": mem.json()["id"]})).status_code == 200
    agent = (await apps.admin.post(f"{A}/agents", json={"name": "rememberer", "llm": {"backend": b["id"], "model": "m"}})).json()

    events = await say(apps, agent["id"], "ada", "s1",
                       'call save_to_memory {"content": "Ada likes green tea", "category": "preferences"}')
    assert tool_result(events, "save_to_memory")
    saved = [r for r in spare.requests if r.route == "embeddings"]
    assert saved and saved[-1].json["model"] == "emb-spare"

    spare.clear()
    events = await say(apps, agent["id"], "ada", "s2", 'call search_memory {"query": "what does Ada drink"}')
    result = tool_result(events, "search_memory")
    assert "green tea" in str(result), result
    # the query was embedded with the fallback's model: its rows are compared in their own space
    queried = [r for r in spare.requests if r.route == "embeddings"]
    assert queried and queried[-1].json["model"] == "emb-spare"
    assert final_text(events)
