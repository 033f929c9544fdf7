"""SQLite session writes (:mod:`magec.memory._sqlite_write`): the loop never waits on another
writer, every write lands, the WAL is checkpointed.

The other writers here are real: another *process* holding the writers' file lock (as a second
``magec serve`` worker does while it commits), and a plain ``sqlite3`` connection holding SQLite's
own write lock (as the engine's audit or usage flush does)."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import sqlite3
import subprocess
import sys

import pytest
from google.adk.events.event import Event
from google.genai import types
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.memory import SqlSessionService
from magec.memory._sqlite_write import LOOP_BYTES, lock_path

HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


def said(text: str, ts: float) -> Event:
    return Event(author="user", invocation_id=text[:16], timestamp=ts,
                 content=types.Content(role="user", parts=[types.Part(text=text)]))  # fmt: skip


def db_path(engine: AsyncEngine) -> str:
    path = engine.url.database
    assert path
    return path


async def test_a_write_waits_for_another_process_while_the_loop_serves(sqlite_engine: AsyncEngine) -> None:
    svc = SqlSessionService(sqlite_engine)
    other = SqlSessionService(sqlite_engine)
    s = await svc.create_session(app_name="a", user_id="u", session_id="s")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, lock_path(db_path(sqlite_engine))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        write = asyncio.create_task(svc.append_event(s, said("while locked", 1.0)))
        # the loop is free: another service's read goes through while the write waits its turn
        assert await other.get_session(app_name="a", user_id="u", session_id="s") is not None
        assert not write.done()
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        await write
    finally:
        holder.kill()
        holder.wait()
    got = await other.get_session(app_name="a", user_id="u", session_id="s")
    assert got is not None and [e.content.parts[0].text for e in got.events if e.content and e.content.parts] == ["while locked"]
    await svc.close()
    await other.close()


async def test_a_write_retries_while_another_connection_holds_sqlites_lock(sqlite_engine: AsyncEngine) -> None:
    svc = SqlSessionService(sqlite_engine)
    s = await svc.create_session(app_name="a", user_id="u", session_id="s")
    engine_writer = sqlite3.connect(db_path(sqlite_engine), isolation_level=None)
    engine_writer.execute("BEGIN IMMEDIATE")  # SQLite's own lock, not the file lock
    engine_writer.execute("CREATE TABLE held (x)")
    try:
        write = asyncio.create_task(svc.append_event(s, said("after the flush", 1.0)))
        # the loop is not stuck in SQLite's busy handler: a read answers while the write waits
        assert await svc.get_session(app_name="a", user_id="u", session_id="s") is not None
        assert not write.done()
        engine_writer.execute("COMMIT")
        await write
    finally:
        engine_writer.close()
    got = await svc.get_session(app_name="a", user_id="u", session_id="s")
    assert got is not None and len(got.events) == 1
    await svc.close()


async def test_large_and_small_writes_land_in_order(sqlite_engine: AsyncEngine) -> None:
    """An event over the loop's size budget is written by the thread; the session's order holds."""
    svc = SqlSessionService(sqlite_engine)
    s = await svc.create_session(app_name="a", user_id="u", session_id="s")
    texts = ["small 1", "L" * (LOOP_BYTES + 1), "small 2", "M" * (LOOP_BYTES * 2), "small 3"]
    for i, text in enumerate(texts):
        await svc.append_event(s, said(text, 1.0 + i))
    fresh = SqlSessionService(sqlite_engine)
    got = await fresh.get_session(app_name="a", user_id="u", session_id="s")
    assert got is not None
    assert [e.content.parts[0].text for e in got.events if e.content and e.content.parts] == texts
    await svc.close()
    await fresh.close()


async def test_concurrent_writers_commit_everything_and_the_wal_is_checkpointed(sqlite_engine: AsyncEngine) -> None:
    """Many sessions written at once (group commit) and for long: every event is stored and the
    WAL stays small (the loop's connection never checkpoints; a thread does)."""
    svc = SqlSessionService(sqlite_engine)
    sessions = [await svc.create_session(app_name="a", user_id="u", session_id=f"s{i}") for i in range(40)]

    async def chat(i: int) -> None:
        for turn in range(50):
            await svc.append_event(sessions[i], said(f"s{i} turn {turn} " + "x" * 2000, 1.0 + turn))

    await asyncio.gather(*(chat(i) for i in range(40)))
    conn = sqlite3.connect(db_path(sqlite_engine))
    try:
        assert conn.execute("SELECT count(*) FROM session_events").fetchone() == (2000,)
    finally:
        conn.close()
    # ~2000 events of ~2 KiB: a ~15 MB WAL without checkpoints (measured); with them (~2 MB) it is
    # reused from its start
    assert os.path.getsize(db_path(sqlite_engine) + "-wal") < 6 << 20
    await svc.close()


async def test_an_unusable_lock_file_fails_the_writes_instead_of_hanging(sqlite_engine: AsyncEngine) -> None:
    svc = SqlSessionService(sqlite_engine)
    s = await svc.create_session(app_name="a", user_id="u", session_id="s")
    await svc.close()
    os.remove(lock_path(db_path(sqlite_engine)))
    os.mkdir(lock_path(db_path(sqlite_engine)))  # a directory where the lock file should be
    svc = SqlSessionService(sqlite_engine)
    for text in ("small", "L" * (LOOP_BYTES + 1)):  # on the loop, and by the thread
        try:
            await asyncio.wait_for(svc.append_event(s, said(text, 1.0)), 30)
        except IsADirectoryError:
            pass
        else:
            raise AssertionError("the write succeeded without the lock")
    await svc.close()


async def test_without_flock_the_writes_go_on_under_sqlites_lock(sqlite_engine: AsyncEngine,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system without ``flock`` (some network mounts answer ENOLCK): writes still land, one
    at a time under SQLite's own lock (injected fault: the OS call is replaced for this test)."""

    def no_flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    svc = SqlSessionService(sqlite_engine)
    s = await svc.create_session(app_name="a", user_id="u", session_id="s")
    for i, text in enumerate(("small", "L" * (LOOP_BYTES + 1))):
        await svc.append_event(s, said(text, 1.0 + i))
    await svc.delete_session(app_name="a", user_id="u", session_id="s")
    assert await svc.get_session(app_name="a", user_id="u", session_id="s") is None
    await svc.close()
