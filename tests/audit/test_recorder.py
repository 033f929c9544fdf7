"""The recorder's guarantees: a full queue drops the oldest record and counts it (a turn never
waits), a clean stop writes everything still queued, and the periodic prune applies the running
retention setting."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from google.genai import types
from prometheus_client import CollectorRegistry

from magec.audit import recorder as recorder_mod
from magec.audit.recorder import AuditRecorder
from magec.audit.shape import Probe
from magec.audit.tables import audit_conversations, audit_metadata, audit_turns
from magec.store.store import make_engine
from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.audit.helpers import agent, backend, run


def _probe(rec: AuditRecorder, text: str) -> Probe:
    snap = SimpleNamespace(clients={}, agents={}, backends={})
    p = Probe(snapshot=snap, app_id="app-1", app_kind="agent", app_name="App", owner="u", session_id="s",
              message=types.Content(role="user", parts=[types.Part(text=text)]), surface="run", source="",
              voice=False, started=datetime.now(UTC), t0=time.perf_counter(), recorder=rec)
    return p


async def test_full_queue_drops_the_oldest_and_counts(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(audit_metadata.create_all)
    registry = CollectorRegistry()
    rec = AuditRecorder(engine, registry, max_queue=3)
    started = time.perf_counter()
    for i in range(5):
        _probe(rec, f"turn {i}").finish()
    assert time.perf_counter() - started < 0.05  # enqueueing never waits for the database
    assert registry.get_sample_value("magec_audit_dropped_total", {"reason": "queue_full"}) == 2
    assert registry.get_sample_value("magec_audit_queue") == 3
    assert await rec.flush() == 3
    async with engine.connect() as conn:
        texts = [r[0] for r in (await conn.execute(sa.select(audit_turns.c.user_text).order_by(audit_turns.c.at)))]
        convs = (await conn.execute(sa.select(sa.func.count()).select_from(audit_conversations))).scalar_one()
    assert texts == ["turn 2", "turn 3", "turn 4"] and convs == 1
    assert registry.get_sample_value("magec_audit_written_total") == 3
    await rec.close()
    assert rec.begin(SimpleNamespace(snapshot=SimpleNamespace(settings=SimpleNamespace())), None, "", "", None) is None
    await engine.dispose()


async def test_clean_stop_writes_what_is_queued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder_mod, "FLUSH_INTERVAL", 3600.0)  # the writer would not wake by itself
    db = tmp_path / "data" / "magec.db"
    with FakeServer(OpenAIFake("stop")) as llm:
        async with running_apps(tmp_path / "data", database_url=f"sqlite+aiosqlite:///{db}") as apps:
            aid = await agent(apps, await backend(apps, llm.url), "Stopper")
            await run(apps, aid, "queued at shutdown")
            audit: Any = apps.ctx.extras["audit"]
            assert len(audit._queue) == 1  # finished, acknowledged to the client, not yet written
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(audit_turns.c.user_text))).all()
    await engine.dispose()
    assert [r[0] for r in rows] == ["queued at shutdown"]


async def test_periodic_prune_applies_the_running_retention(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(audit_metadata.create_all)
    retention = SimpleNamespace(retention_days=0, max_turns=0)
    rec = AuditRecorder(engine, flush_interval=0.05, prune_interval=0.1, settings=lambda: retention)
    for i in range(3):
        _probe(rec, f"old {i}").finish()
    await rec.flush()
    async with engine.begin() as conn:  # two of them are 30 days old
        await conn.execute(sa.update(audit_turns).where(audit_turns.c.user_text != "old 2")
                           .values(at=datetime.now(UTC) - timedelta(days=30)))
    retention.retention_days = 7  # the operator sets a retention while the server runs
    rec.start()

    async def left() -> list[str]:
        async with engine.connect() as conn:
            return [r[0] for r in await conn.execute(sa.select(audit_turns.c.user_text))]

    deadline = time.monotonic() + 10
    while await left() != ["old 2"]:  # the writer's own timer prunes: nothing here triggers it
        assert time.monotonic() < deadline, await left()
        await asyncio.sleep(0.05)
    await rec.close()
    await engine.dispose()


async def test_two_replicas_share_one_conversation(postgres: Any) -> None:
    """Two writers (replicas) on one PostgreSQL recording turns of the same new session at once
    end with one conversation holding both turns (the loser of the insert race reads the winner's)."""
    url = postgres.url(postgres.create_database())
    engines = [make_engine(url) for _ in range(2)]
    async with engines[0].begin() as conn:
        await conn.run_sync(audit_metadata.create_all)
    recs = [AuditRecorder(e) for e in engines]
    for i, rec in enumerate(recs):
        _probe(rec, f"replica {i}").finish()
    assert await asyncio.gather(*(rec.flush() for rec in recs)) == [1, 1]
    async with engines[0].connect() as conn:
        convs = (await conn.execute(sa.select(audit_conversations.c.id))).all()
        owners = {r[0] for r in await conn.execute(sa.select(audit_turns.c.conversation_id))}
    assert len(convs) == 1 and owners == {convs[0][0]}
    for rec, e in zip(recs, engines, strict=True):
        await rec.close()
        await e.dispose()


async def test_a_flush_writes_what_was_queued_when_it_started(tmp_path: Path) -> None:
    """Turns that finish while a flush writes wait for the next one: under steady traffic a flush
    that chased them never ended, writing a few turns per transaction instead of a batch."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(audit_metadata.create_all)
    rec = AuditRecorder(engine, CollectorRegistry(), flush_interval=3600)
    batches: list[int] = []
    write = rec._write

    async def traffic_meanwhile(batch: list[Probe]) -> None:
        batches.append(len(batch))
        for i in range(3):  # turns that finish while this batch is being written
            _probe(rec, f"later {len(batches)}.{i}").finish()
        await write(batch)

    rec._write = traffic_meanwhile  # type: ignore[method-assign]
    for i in range(5):
        _probe(rec, f"turn {i}").finish()
    assert await rec.flush() == 5 and batches == [5]
    assert await rec.flush() == 3 and batches == [5, 3]  # the next flush takes what came meanwhile
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(audit_turns))).scalar_one() == 8
    rec._write = write  # type: ignore[method-assign]
    await rec.close()
    await engine.dispose()
