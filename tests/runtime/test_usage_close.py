"""Closing the usage recorder while its background flush waits on the database loses nothing and
leaves no write behind holding the database (runtime/usage.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa

from magec.runtime.usage import UsageRecorder
from magec.store.migrate import upgrade
from magec.store.store import make_engine
from magec.store.tables import usage


async def test_close_during_a_blocked_flush_writes_every_row_and_releases_the_database(tmp_path: Path) -> None:
    db = tmp_path / "magec.db"
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await upgrade(engine)
    recorder = UsageRecorder(engine, flush_interval=0.01)
    recorder.start()
    # another writer holds the database: the recorder's next flush waits inside its INSERT
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    for i in range(5):
        recorder.record("agent", "backend", "llm", "m", input_tokens=i)
    async def taken() -> None:  # the background flush took the rows: it is now blocked on the lock
        while recorder.taken < 5:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(taken(), 5)
    closing = asyncio.create_task(recorder.close())
    for _ in range(5):  # close runs up to its own wait (it cancels the background loop first)
        await asyncio.sleep(0)
    other.execute("COMMIT")  # the other writer finishes, as a real one does
    started = time.monotonic()
    await asyncio.wait_for(closing, 10)
    assert time.monotonic() - started < 5, "close waited out the busy timeout"
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(usage))).scalar() == 5
    # nothing left holding the write lock
    other.execute("PRAGMA busy_timeout=2000")
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    await engine.dispose()
