"""Embedding-model safety: a model change (dim 3 → 5) never mixes vectors; the re-embed job moves
every row, search keeps working during it, and a new process resumes an interrupted job."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.memory.embedder import EmbedderLike
from magec.memory.fakes import KeywordEmbedder
from magec.memory.reembed import JobInfo, ReembedJob, get_job, list_jobs
from magec.memory.sql_longterm import SqlLongTermStore
from magec.memory.tables import create_memory_tables, memory_entries, memory_sets
from magec.store.store import make_engine

OLD, NEW = "fake/kw-3", "fake/kw-5"
FACTS = ["Likes coffee", "Has a dog", "Lives in Paris", "Plays piano", "Works in an office", "Drinks tea"]


async def _seed(engine: AsyncEngine, n: int = 30) -> SqlLongTermStore:
    old = SqlLongTermStore(engine, KeywordEmbedder(dim=3, key=OLD))
    for i in range(n):
        await old.save("a", f"u{i % 2}", f"{FACTS[i % len(FACTS)]} #{i}")
    return old


def _new_store(engine: AsyncEngine, resolvable: bool = True) -> SqlLongTermStore:
    old = KeywordEmbedder(dim=3, key=OLD)

    def resolve(key: str) -> EmbedderLike | None:
        return old if resolvable and key == OLD else None

    return SqlLongTermStore(engine, KeywordEmbedder(dim=5, key=NEW), resolve_embedder=resolve)


async def _models(engine: AsyncEngine) -> dict[tuple[str | None, int | None], int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(memory_entries.c.embedding_model, memory_entries.c.dim, sa.func.count()).group_by(
                memory_entries.c.embedding_model, memory_entries.c.dim
            )
        )
        return {(m, d): n for m, d, n in rows}


async def test_model_change_and_reembed_job(sql_engine: AsyncEngine) -> None:
    await _seed(sql_engine)
    store = _new_store(sql_engine)
    # new saves use the new model; old rows keep theirs: two groups, never mixed
    await store.save("a", "u0", "Has a puppy now")
    assert await _models(sql_engine) == {(OLD, 3): 30, (NEW, 5): 1}
    async with sql_engine.connect() as conn:
        current = (await conn.execute(sa.select(memory_sets.c.embedding_model, memory_sets.c.dim))).one()
    assert tuple(current) == (NEW, 5)
    # dual read: old rows searched with the old model, new rows with the new one
    hits = await store.search("a", "u0", "dog", limit=20)
    assert {h.embedding_model for h in hits} == {OLD, NEW} and all(h.match == "vector" for h in hits)

    progress: list[JobInfo] = []
    searches: list[list[str]] = []

    async def on_progress(info: JobInfo) -> None:
        progress.append(info)
        found = await store.search("a", "u1", "dog", limit=3)  # search during the job
        searches.append([h.content for h in found])

    job = ReembedJob(store, batch_size=4, on_progress=on_progress)
    info = await job.start()
    assert info.status == "running" and info.total == 30 and info.from_model == OLD and info.to_model == NEW
    final = await job.run()
    assert final.status == "done" and final.done == final.total == 30 and final.finished_at
    assert [p.done for p in progress] == sorted(p.done for p in progress) and progress[-1].done == 30
    assert len(searches) >= 8 and all(s and "dog" in s[0] for s in searches)
    assert await _models(sql_engine) == {(NEW, 5): 31}
    assert (await get_job(sql_engine, final.id)) == final
    assert await job.get_job() == final
    hits = await store.search("a", "u1", "dog", limit=2)
    assert hits[0].embedding_model == NEW and "dog" in hits[0].content
    # nothing left: a new job is done at once
    again = ReembedJob(store)
    assert (await again.start()).status == "done"


async def test_search_without_the_old_model_uses_full_text(sql_engine: AsyncEngine) -> None:
    await _seed(sql_engine, n=6)
    store = _new_store(sql_engine, resolvable=False)
    await store.save("a", "u1", "Has a puppy")
    hits = await store.search("a", "u1", "tea or dog or puppy", limit=5)
    contents = [h.content for h in hits]
    assert contents[0] == "Has a puppy" and hits[0].match == "vector"
    assert any(c.startswith("Has a dog") for c in contents)  # old row, found by its words
    assert {h.match for h in hits} == {"vector", "text"}


async def test_interrupted_job_resumes_in_a_new_process(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url)
    await create_memory_tables(engine)
    await _seed(engine, n=25)
    first = ReembedJob(_new_store(engine), batch_size=5)
    partial = await first.run(max_batches=2)
    assert partial.status == "running" and partial.done == 10
    await engine.dispose()  # "restart"

    engine = make_engine(url)
    store = _new_store(engine)
    job = ReembedJob(store, batch_size=5)
    unfinished = await job.find_unfinished()
    assert unfinished is not None and unfinished.id == partial.id
    resumed = await job.start()
    assert resumed.id == partial.id and resumed.done == 10
    seen: list[int] = []
    job.on_progress = lambda info: seen.append(info.done)  # type: ignore[assignment,return-value]
    done = await job.run()
    assert done.id == partial.id and done.status == "done" and done.done == done.total == 25
    assert seen[0] == 10 and seen[-1] == 25
    assert await _models(engine) == {(NEW, 5): 25}
    assert [j.id for j in await list_jobs(engine, "default")] == [partial.id]
    await engine.dispose()


async def test_provider_failure_marks_job_failed_and_resumes(sqlite_engine: AsyncEngine) -> None:
    await _seed(sqlite_engine, n=8)
    store = _new_store(sqlite_engine)
    embedder = store.embedder
    assert isinstance(embedder, KeywordEmbedder)
    embedder.fail = True
    failed = await ReembedJob(store, batch_size=3).run()
    assert failed.status == "failed" and "down" in (failed.error or "")
    embedder.fail = False
    job = ReembedJob(store, batch_size=3)
    assert (await job.start()).id == failed.id
    assert (await job.run()).status == "done"


async def test_model_changed_again_supersedes_the_job(sqlite_engine: AsyncEngine) -> None:
    await _seed(sqlite_engine, n=10)
    first = ReembedJob(_new_store(sqlite_engine), batch_size=2)
    await first.run(max_batches=1)
    third = SqlLongTermStore(sqlite_engine, KeywordEmbedder(dim=4, key="fake/kw-4"))
    job = ReembedJob(third, batch_size=50)
    info = await job.start()
    assert info.id != first.id and info.to_model == "fake/kw-4" and info.total == 10
    old = await first.get_job()
    assert old is not None and old.status == "superseded"
    assert (await job.run()).status == "done"
    assert await _models(sqlite_engine) == {("fake/kw-4", 4): 10}


async def test_job_needs_an_embedder(sqlite_engine: AsyncEngine) -> None:
    from magec.errors import ConfigError

    with pytest.raises(ConfigError):
        ReembedJob(SqlLongTermStore(sqlite_engine, None))
