"""Session retention (``settings.sessions.retentionDays``), as an operator and a client meet it:
conversations idle that long are deleted, recent and just-imported ones are kept, a conversation
that comes back starts afresh, and the bytes a client's old sessions held count no more; the
hourly job does by itself what ``POST /memory/sessions/prune`` does at once.

Old conversations are arranged by moving their stored times back (``age``): the database as it
will be weeks later. Everything else goes through the APIs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from google.adk.events.event import Event
from google.genai import types

from magec.memory.session_retention import BATCH_BYTES, DAY, SessionRetention
from magec.memory.sql_sessions import SqlSessionService
from magec.memory.tables import create_memory_tables
from magec.memory.tables import session_sessions as ss
from magec.resources.models import SessionSettings
from magec.store.store import make_engine
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer
from tests.costs.helpers import A, U, agent, auth, backend, client

SESSIONS = f"{A}/memory/sessions/prune"


async def say(apps: Apps, aid: str, token: str, user: str, session: str, text: str = "hello") -> httpx.Response:
    r = await apps.user.post(f"{U}/run", headers=auth(token), json={
        "appName": aid, "userId": user, "sessionId": session, "newMessage": {"role": "user", "parts": [{"text": text}]}})
    return r


async def age(db_url: str, session: str, days: float) -> None:
    """Move a session's stored times ``days`` back, as if nobody had written to it since."""
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            shift = days * DAY
            r = await conn.execute(sa.update(ss).where(ss.c.session_id == session).values(
                update_time=ss.c.update_time - shift, create_time=ss.c.create_time - shift))
            assert r.rowcount == 1, session
    finally:
        await engine.dispose()


async def test_idle_conversations_go_recent_and_imported_ones_stay(tmp_path: Path, db_url: str, oai: FakeServer) -> None:
    async with running_apps(tmp_path / "data", database_url=db_url) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        token = (await client(apps, "Bot", [aid]))["token"]
        base = f"{U}/apps/{aid}/users/alice/sessions"
        for sid in ("old", "recent", "edge"):
            assert (await say(apps, aid, token, "alice", sid, f"remember {sid}")).status_code == 200
        r = await apps.user.patch(f"{base}/old", headers=auth(token), json={"stateDelta": {"client:note": "kept?"}})
        assert r.status_code == 200, r.text
        # an import of a conversation held elsewhere: its events are 90 days old, the session is new
        past = time.time() - 90 * DAY
        r = await apps.user.post(base, headers=auth(token), json={"sessionId": "imported", "events": [
            {"author": "user", "timestamp": past, "content": {"role": "user", "parts": [{"text": "long ago"}]}}]})
        assert r.status_code == 200, r.text
        for sid, name in (("old", "notes.txt"), ("old", "user:profile.txt"), ("recent", "notes.txt")):
            r = await apps.user.post(f"{base}/{sid}/artifacts", headers=auth(token),
                                     json={"filename": name, "artifact": {"text": f"{sid} {name}"}})
            assert r.status_code == 200, r.text
        await age(db_url, "old", 45)
        await age(db_url, "edge", 29)

        # retention off (the default): nothing goes, however old
        assert (await apps.admin.get(f"{A}/settings")).json()["sessions"] == {"retentionDays": 0}
        assert (await apps.admin.post(SESSIONS, json={})).json() == {"deleted": 0}
        assert (await apps.user.get(f"{base}/old", headers=auth(token))).status_code == 200

        settings = (await apps.admin.get(f"{A}/settings")).json()
        r = await apps.admin.put(f"{A}/settings", json={**settings, "sessions": {"retentionDays": 30}})
        assert r.status_code == 200 and r.json()["sessions"] == {"retentionDays": 30}, r.text
        assert (await apps.admin.get(f"{A}/memory/sessions/idle")).json() == {"retentionDays": 30, "idle": 1}
        assert (await apps.admin.post(SESSIONS, json={})).json() == {"deleted": 1}
        assert (await apps.admin.get(f"{A}/memory/sessions/idle")).json() == {"retentionDays": 30, "idle": 0}
        assert (await apps.user.get(f"{base}/old", headers=auth(token))).status_code == 404
        for kept in ("recent", "edge", "imported"):
            assert (await apps.user.get(f"{base}/{kept}", headers=auth(token))).status_code == 200, kept
        assert (await apps.admin.post(SESSIONS, json={})).json() == {"deleted": 0}  # nothing left to do

        # the pruned session's own artifacts went with it; the user's and other sessions' stay
        names = (await apps.user.get(f"{base}/old/artifacts", headers=auth(token))).json()
        assert names == ["user:profile.txt"], names
        names = (await apps.user.get(f"{base}/recent/artifacts", headers=auth(token))).json()
        assert sorted(names) == ["notes.txt", "user:profile.txt"], names

        # the same chat coming back (a bot's fixed session id) starts a fresh conversation, with
        # nothing of the old one's state
        assert (await say(apps, aid, token, "alice", "old", "hi again")).status_code == 200
        again = (await apps.user.get(f"{base}/old", headers=auth(token))).json()
        texts = [p.get("text") for e in again["events"] for p in (e.get("content") or {}).get("parts", [])]
        assert texts == ["hi again", "answer"], texts
        assert "client:note" not in again["state"], again["state"]

        # a save from Magec's UI (it knows only its own fields) keeps the retention
        r = await apps.admin.put(f"{A}/settings", json={"sessionProvider": "", "longTermProvider": ""})
        assert r.status_code == 200 and r.json()["sessions"] == {"retentionDays": 30}, r.text


async def test_bad_settings_and_future_imports_are_refused(apps: Apps, oai: FakeServer) -> None:
    settings = (await apps.admin.get(f"{A}/settings")).json()
    # ``true`` meant as "on" must not become "delete after 1 day"
    for bad in (-1, 40_000, "thirty", "30", True, False, 7.5):
        r = await apps.admin.put(f"{A}/settings", json={**settings, "sessions": {"retentionDays": bad}})
        assert r.status_code == 400 and "sessions.retentionDays" in r.json()["error"], (bad, r.text)
        r = await apps.admin.put(f"{A}/settings", json={**settings, "conversations": {"retentionDays": bad}})
        assert r.status_code == 400 and "conversations.retentionDays" in r.json()["error"], (bad, r.text)
    assert (await apps.admin.get(f"{A}/settings")).json() == settings
    aid = await agent(apps, await backend(apps, oai), "Helper")
    token = (await client(apps, "Bot", [aid]))["token"]
    # an event dated next year would keep its session from retention for ever
    r = await apps.user.post(f"{U}/apps/{aid}/users/u/sessions", headers=auth(token), json={"events": [
        {"author": "user", "timestamp": time.time() + 365 * DAY, "content": {"role": "user", "parts": [{"text": "x"}]}}]})
    assert r.status_code == 400 and "events[0].timestamp" in r.json()["error"], r.text


async def test_pruning_gives_a_full_client_its_room_back(tmp_path: Path, db_url: str, oai: FakeServer) -> None:
    limit = 20_000
    async with running_apps(tmp_path / "data", database_url=db_url,
                            config={"max_session_bytes_per_client": limit}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        token = (await client(apps, "Bot", [aid]))["token"]
        ran = 0
        while (r := await say(apps, aid, token, f"user{ran}", f"chat{ran}", "x" * 4_000)).status_code == 200:
            ran += 1
            assert ran < 10
        assert r.status_code == 413 and "limits.maxSessionBytesPerClient" in r.json()["error"], r.text
        for i in range(ran):
            await age(db_url, f"chat{i}", 8)
        settings = (await apps.admin.get(f"{A}/settings")).json()
        r = await apps.admin.put(f"{A}/settings", json={**settings, "sessions": {"retentionDays": 7}})
        assert r.status_code == 200, r.text
        assert (await apps.admin.post(SESSIONS, json={})).json() == {"deleted": ran}
        assert (await say(apps, aid, token, "late", "chat-late", "x" * 4_000)).status_code == 200


async def test_the_hourly_job_prunes_by_itself_and_spares_a_conversation_that_comes_back(tmp_path: Path) -> None:
    """The service and the job, in one process: the job runs on its interval with the settings of
    the moment, and a session written to between the job's read and its delete is kept."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await create_memory_tables(engine)
    svc = SqlSessionService(engine)
    clock = [time.time()]
    settings = SessionSettings(retention_days=0)
    job = SessionRetention(lambda: svc, lambda: settings, interval=0.05, clock=lambda: clock[0])
    try:
        for sid in ("a", "b", "c"):
            await svc.create_session(app_name="app", user_id="u", session_id=sid)
        clock[0] += 10 * DAY
        job.start()  # retention off: its runs delete nothing
        # "b" comes back between the job's read of idle sessions and its delete: it stays
        keys = [("app", "u", "a"), ("app", "u", "b")]
        b = await svc.get_session(app_name="app", user_id="u", session_id="b")
        assert b is not None
        await svc.append_event(b, Event(author="user", timestamp=clock[0],
                                        content=types.Content(role="user", parts=[types.Part(text="back")])))
        assert await svc.delete_idle(keys, clock[0] - 7 * DAY) == [("app", "u", "a")]
        settings = SessionSettings(retention_days=7)
        deadline = time.monotonic() + 5
        while [s.id for s in (await svc.list_sessions(app_name="app", user_id="u")).sessions] != ["b"]:
            assert time.monotonic() < deadline, "the job never pruned"
            await asyncio.sleep(0.05)
        assert job.pruned == 1  # "c", by the job; "a" went by the direct call
    finally:
        await job.close()
        await svc.close()
        await engine.dispose()


class _Recording(SqlSessionService):
    """The SQL service, noting the stored bytes of the sessions each write transaction deletes."""

    weights: list[int]

    async def delete_idle(self, keys: list[tuple[str, str, str]], before: float) -> list[tuple[str, str, str]]:
        async with self.engine.connect() as conn:
            q = sa.select(sa.func.coalesce(sa.func.sum(ss.c.bytes), 0)).where(
                ss.c.session_id.in_([k[2] for k in keys]))
            self.weights.append(int((await conn.execute(q)).scalar_one()))
        return await super().delete_idle(keys, before)


async def test_a_write_transaction_deletes_a_bounded_amount(tmp_path: Path) -> None:
    """On SQLite a prune's write transaction holds the lock every session write of every process
    waits for: it is bounded in bytes, not only in sessions (200 sessions of a busy bot's size held
    it for 50 s and made live turns fail)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await create_memory_tables(engine)
    svc = _Recording(engine)
    svc.weights = []
    clock = [time.time()]
    job = SessionRetention(lambda: svc, lambda: SessionSettings(retention_days=7), interval=float("inf"),
                           clock=lambda: clock[0])
    big = "x" * 64_000
    try:
        for i in range(40):  # 40 conversations of 16 events of 64 kB: ~41 MB
            session = await svc.create_session(app_name="app", user_id="c:u", session_id=f"s{i}")
            for _ in range(16):
                await svc.append_event(session, Event(author="user", timestamp=clock[0], content=types.Content(
                    role="user", parts=[types.Part(text=big)])))
        clock[0] += 10 * DAY
        assert await job.idle() == 40
        assert await job.prune() == 40
        assert sum(svc.weights) > 40 * 16 * len(big) and max(svc.weights) <= BATCH_BYTES, svc.weights
        assert await job.idle() == 0
    finally:
        await job.close()
        await svc.close()
        await engine.dispose()
