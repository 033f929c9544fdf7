"""Long-term memory on SQL (SQLite + numpy, and plain PostgreSQL): scoping, search order, admin list."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.errors import NotFoundError, ValidationError
from magec.memory.fakes import KeywordEmbedder
from magec.memory.longterm import LongTermStore, query_terms
from magec.memory.sql_longterm import SqlLongTermStore


@pytest.fixture
def embedder() -> KeywordEmbedder:
    return KeywordEmbedder(dim=5, key="fake/kw-5")


@pytest.fixture
async def store(sql_engine: AsyncEngine, embedder: KeywordEmbedder) -> SqlLongTermStore:
    s = SqlLongTermStore(sql_engine, embedder)
    await s.start()
    return s


async def test_protocol(store: SqlLongTermStore) -> None:
    assert isinstance(store, LongTermStore)


async def test_save_search_scoped_per_agent_and_user(store: SqlLongTermStore) -> None:
    await store.save("agent-a", "u1", "Likes espresso in the morning", category="preferences")
    await store.save("agent-a", "u1", "Has a dog called Rex")
    await store.save("agent-a", "u1", "Lives in Madrid")
    await store.save("agent-a", "u2", "Likes tea, green")
    await store.save("agent-b", "u1", "Drinks coffee at the office")

    hits = await store.search("agent-a", "u1", "what coffee does the user drink?", limit=3)
    assert hits[0].content == "Likes espresso in the morning" and hits[0].match == "vector"
    assert hits[0].category == "preferences" and hits[0].text == "[preferences] Likes espresso in the morning"
    assert {h.user_id for h in hits} == {"u1"} and {h.app_name for h in hits} == {"agent-a"}
    assert len(hits) == 3
    # another user / another agent never sees these
    assert [h.content for h in await store.search("agent-a", "u2", "coffee")] == ["Likes tea, green"]
    assert [h.content for h in await store.search("agent-b", "u1", "pets")] == ["Drinks coffee at the office"]
    assert await store.search("agent-c", "u1", "coffee") == []


async def test_update_and_delete(store: SqlLongTermStore, embedder: KeywordEmbedder) -> None:
    e = await store.save("a", "u", "Has a cat")
    await store.save("a", "u", "Plays the guitar")
    updated = await store.update(e.id, "Lives in Paris")
    assert updated.content == "Lives in Paris" and updated.embedding_model == "fake/kw-5"
    hits = await store.search("a", "u", "which city?", limit=1)
    assert hits[0].id == e.id and hits[0].content == "Lives in Paris"
    # scoped update / delete refuse other scopes
    with pytest.raises(NotFoundError):
        await store.update(e.id, "x", app="a", user="someone-else")
    with pytest.raises(NotFoundError):
        await store.delete(e.id, app="other-agent", user="u")
    await store.delete(e.id, app="a", user="u")
    with pytest.raises(NotFoundError):
        await store.get(e.id)
    with pytest.raises(NotFoundError):
        await store.delete("not-a-number")
    with pytest.raises(ValidationError):
        await store.save("a", "u", "   ")
    assert [h.content for h in await store.search("a", "u", "city")] == ["Plays the guitar"]


async def test_fallback_order_vector_then_text_then_recent(sql_engine: AsyncEngine) -> None:
    # no embedding model at all: full text, then most recent
    plain = SqlLongTermStore(sql_engine, None)
    await plain.save("a", "u", "Favourite colour is blue")
    await plain.save("a", "u", "Allergic to peanuts")
    await plain.save("a", "u", "Birthday on 3 March")
    text = await plain.search("a", "u", "any allergies? peanuts maybe")
    assert [h.content for h in text] == ["Allergic to peanuts"] and text[0].match == "text"
    recent = await plain.search("a", "u", "zzz qqq")
    assert [h.content for h in recent] == ["Birthday on 3 March", "Allergic to peanuts", "Favourite colour is blue"]
    assert {h.match for h in recent} == {"recent"}
    assert [h.match for h in await plain.search("a", "u", "")] == ["recent"] * 3
    # with an embedder on the same rows' scope: new rows are vector hits, old (unembedded) rows
    # still reachable by full text, fused into one ranking
    smart = SqlLongTermStore(sql_engine, KeywordEmbedder(dim=5, key="fake/kw-5"))
    await smart.save("a", "u", "Has a puppy")
    mixed = await smart.search("a", "u", "dog or peanuts?", limit=5)
    assert mixed[0].content == "Has a puppy" and mixed[0].match == "vector"
    assert "Allergic to peanuts" in [h.content for h in mixed]
    assert {h.match for h in mixed} == {"vector", "text"}


async def test_embedding_failure_keeps_the_memory(sql_engine: AsyncEngine) -> None:
    down = KeywordEmbedder(dim=5, key="fake/kw-5", fail=True)
    store = SqlLongTermStore(sql_engine, down)
    e = await store.save("a", "u", "Works as an engineer")
    assert e.embedding_model is None
    hits = await store.search("a", "u", "what is the engineer job")
    assert [h.content for h in hits] == ["Works as an engineer"] and hits[0].match == "text"
    down.fail = False
    assert await store.reembed_pending("fake/kw-5") == 1


async def test_list_count_health(store: SqlLongTermStore) -> None:
    for i in range(5):
        await store.save("a", "u1", f"fact number {i}")
    await store.save("a", "u2", "other user fact")
    await store.save("b", "u1", "other agent fact")
    page = await store.list(app="a", user="u1", limit=2, offset=1)
    assert [e.content for e in page] == ["fact number 3", "fact number 2"]
    assert await store.count() == 7 and await store.count(app="a") == 6 and await store.count(user="u1") == 6
    assert [e.content for e in await store.list(query="OTHER")] == ["other agent fact", "other user fact"]
    assert await store.count(query="number 4") == 1
    assert (await store.list(query="100%")) == []
    ok, detail = await store.health()
    assert ok and "7 memories" in detail and "fake/kw-5" in detail
    assert store.__class__.__name__ in repr(type(store))
    j = page[0].to_json()
    assert j["appName"] == "a" and j["embeddingModel"] == "fake/kw-5" and j["dim"] == 5


async def test_cache_follows_writes_from_another_store_object(sql_engine: AsyncEngine) -> None:
    """Two processes on one database: the vector cache is validated by the scope generation."""
    one = SqlLongTermStore(sql_engine, KeywordEmbedder(dim=5, key="fake/kw-5"))
    two = SqlLongTermStore(sql_engine, KeywordEmbedder(dim=5, key="fake/kw-5"))
    await one.save("a", "u", "Plays piano")
    assert [h.content for h in await one.search("a", "u", "music")] == ["Plays piano"]
    await two.save("a", "u", "Plays guitar too")
    assert len(await one.search("a", "u", "music")) == 2
    first = (await one.search("a", "u", "music"))[0]
    await two.delete(first.id)
    assert len(await one.search("a", "u", "music")) == 1


def test_query_terms() -> None:
    assert query_terms("What is THE user's favourite coffee, coffee?") == ["user", "favourite", "coffee"]
    assert query_terms("a an of") == []
