"""Stored conversations per client (``limits.maxSessionBytesPerClient``), as a client meets it: a
client that invents users and sessions is refused once its conversations reach the limit, on every
surface that stores a session, before anything runs; other clients, stateless ``/v1`` calls and
the admin are not; deleting sessions makes room at once; older databases and backups are counted.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from magec.memory.session_base import SESSION_ROW_BYTES
from magec.store import migrate
from magec.store.store import make_engine
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer
from tests.backup.helpers import members, tar_gz
from tests.costs.helpers import A, U, agent, auth, backend, client

LIMIT = 20_000
TEXT = "x" * 4_000  # every turn stores at least this much (the user's message)


async def run(apps: Apps, aid: str, token: str, user: str, session: str) -> httpx.Response:
    return await apps.user.post(f"{U}/run", headers=auth(token), json={
        "appName": aid, "userId": user, "sessionId": session, "newMessage": {"role": "user", "parts": [{"text": TEXT}]}})


def refused(r: httpx.Response) -> bool:
    """Whether the turn was refused for the limit: a 413 when it would open a new session, an
    error event (before anything ran) when it continues one; anything else must be an answer."""
    if r.status_code == 413:
        assert r.json()["code"] == "payload_too_large" and "limits.maxSessionBytesPerClient" in r.json()["error"]
        return True
    assert r.status_code == 200, r.text
    codes = [e.get("errorCode") for e in r.json()]
    if codes == ["payload_too_large"]:
        assert "limits.maxSessionBytesPerClient" in r.json()[0]["errorMessage"], r.text
        return True
    assert not any(codes), r.text
    return False


async def fill(apps: Apps, aid: str, token: str) -> int:
    """Turns in ever new sessions of ever new users until one is refused; how many ran."""
    for i in range(20):
        if refused(await run(apps, aid, token, f"user{i}", f"chat{i}")):
            return i
    raise AssertionError("never refused")


async def test_a_client_is_refused_at_its_limit_and_deleting_makes_room(
    tmp_path: Path, db_url: str, oai: FakeServer
) -> None:
    async with running_apps(tmp_path / "data", database_url=db_url,
                            config={"max_session_bytes_per_client": LIMIT}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        greedy = (await client(apps, "Greedy", [aid]))["token"]
        other = (await client(apps, "Other", [aid]))["token"]
        ran = await fill(apps, aid, greedy)
        assert 4 <= ran <= 5, ran  # 4 turns store > 16,000 bytes, 5 more than 20,000
        calls = len(oai.calls())
        # every surface that stores a session is refused before anything runs
        r = await apps.user.post("/v1/chat/completions", headers={**auth(greedy), "X-Session-Id": "kept"},
                                 json={"model": aid, "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 413 and "limits.maxSessionBytesPerClient" in r.json()["error"]["message"], r.text
        r = await apps.user.post(f"{U}/apps/{aid}/users/new/sessions", headers=auth(greedy), json={})
        assert r.status_code == 413 and "limits.maxSessionBytesPerClient" in r.json()["error"], r.text
        assert len(oai.calls()) == calls, "a refused turn never reaches the provider"
        # writes outside a turn are refused too: a state PATCH of an existing session, an import
        r = await apps.user.patch(f"{U}/apps/{aid}/users/user0/sessions/chat0", headers=auth(greedy),
                                  json={"stateDelta": {"client:big": "y" * 5_000}})
        assert r.status_code == 413 and "limits.maxSessionBytesPerClient" in r.json()["error"], r.text
        # a stateless call stores nothing: it is not refused
        r = await apps.user.post("/v1/chat/completions", headers=auth(greedy),
                                 json={"model": aid, "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        # another client, with the same user and session names, is not limited by this one
        assert not refused(await run(apps, aid, other, "user0", "chat0"))
        # deleting two sessions makes room for the very next turn
        for i in range(2):
            r = await apps.user.delete(f"{U}/apps/{aid}/users/user{i}/sessions/chat{i}", headers=auth(greedy))
            assert r.status_code in (200, 204), r.text
        assert not refused(await run(apps, aid, greedy, "user0", "again"))


async def test_concurrent_turns_cannot_slip_past_the_limit_together(tmp_path: Path, db_url: str, oai: FakeServer) -> None:
    async with running_apps(tmp_path / "data", database_url=db_url,
                            config={"max_session_bytes_per_client": LIMIT}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        token = (await client(apps, "Burst", [aid]))["token"]
        answers = await asyncio.gather(*(run(apps, aid, token, f"user{i}", f"chat{i}") for i in range(12)))
        outcomes = [refused(r) for r in answers]
        assert 1 <= outcomes.count(False) <= 5 and outcomes.count(True) >= 7, outcomes


async def test_writes_outside_turns_stop_at_the_limit(tmp_path: Path, oai: FakeServer) -> None:
    """Session imports, state PATCHes and stored Responses histories count as they go: a client
    cannot import its way past the limit between two reads of its total."""
    async with running_apps(tmp_path / "data", config={"max_session_bytes_per_client": LIMIT}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        token = (await client(apps, "Importer", [aid]))["token"]
        history = [{"author": "user", "content": {"role": "user", "parts": [{"text": TEXT}]}}]
        statuses = [(await apps.user.post(f"{U}/apps/{aid}/users/u{i}/sessions", headers=auth(token),
                                          json={"sessionId": f"imported{i}", "events": history})).status_code
                    for i in range(10)]
        assert statuses[0] == 200 and statuses[-1] == 413 and statuses.count(200) <= 5, statuses
        r = await apps.user.post("/v1/responses", headers=auth(token), json={
            "model": aid, "store": True,
            "input": [{"role": "user", "content": TEXT}, {"role": "assistant", "content": "ok"},
                      {"role": "user", "content": "and?"}]})
        assert r.status_code == 413, r.text
        calls = len(oai.calls())
        r = await apps.user.patch(f"{U}/apps/{aid}/users/u0/sessions/imported0", headers=auth(token),
                                  json={"stateDelta": {"client:big": "y" * 5_000}})
        assert r.status_code == 413, r.text
        assert len(oai.calls()) == calls


async def test_a_stored_response_that_crosses_the_limit_is_answered(tmp_path: Path, oai: FakeServer) -> None:
    """A turn admitted under the limit keeps its answer (its response is stored after it); the
    next one is refused, and forgetting a stored response still works over the limit."""
    async with running_apps(tmp_path / "data", config={"max_session_bytes_per_client": 3_000}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        token = (await client(apps, "Responder", [aid]))["token"]
        for stream in (False, True):
            r = await apps.user.post("/v1/responses", headers=auth(token),
                                     json={"model": aid, "store": True, "input": TEXT, "stream": stream})
            if not stream:
                assert r.status_code == 200 and r.json()["status"] == "completed", r.text
                first = r.json()["id"]
            else:  # over the limit now: refused before anything runs
                assert r.status_code == 413, r.text
        r = await apps.user.delete(f"/v1/responses/{first}", headers=auth(token))
        assert r.status_code == 200 and r.json()["deleted"] is True, r.text


async def test_a_running_turn_is_not_counted_twice(tmp_path: Path) -> None:
    """A read of the total taken while a turn runs sees its stored message: the turn's own count
    of it stops there (else a client under its limit would be refused)."""
    from google.adk.events.event import Event
    from google.genai import types

    from magec.memory.session_quota import SessionQuota
    from magec.memory.sql_sessions import SqlSessionService

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    await migrate.upgrade(engine)
    client_ = type("Client", (), {"name": "C"})()
    quota = SessionQuota(engine, 8_000, lambda: {"c1": client_}, max_age=0)  # every check reads
    svc = SqlSessionService(engine)
    svc.quota = quota  # as the server wires it: told of each append
    try:
        message = types.Content(role="user", parts=[types.Part(text=TEXT)])
        session = await svc.create_session(app_name="a", user_id="c1:u", session_id="s")
        await quota.admit(None, None, "c1:u", "s", message)
        probe = quota.begin(None, None, "c1:u", "s", message)
        assert probe is not None
        await svc.append_event(session, Event(author="user", content=message))  # the turn stores its message
        # a second turn, read while the first runs: ~4.4 kB stored (its session and message) is
        # under 8 kB; counting the running message again would make it 8.4 kB and refuse it
        await quota.admit(None, None, "c1:u", "s2", message)
        second = quota.begin(None, None, "c1:u", "s2", message)
        assert second is not None
        probe.finish()
        second.finish()
    finally:
        await svc.close()
        await engine.dispose()


async def test_empty_sessions_count_too(tmp_path: Path, oai: FakeServer) -> None:
    """Opening sessions without a turn is not a way around the limit."""
    limit = 40 * (SESSION_ROW_BYTES + 40)
    async with running_apps(tmp_path / "data", config={"max_session_bytes_per_client": limit}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        token = (await client(apps, "Opener", [aid]))["token"]
        statuses = []
        for i in range(60):
            r = await apps.user.post(f"{U}/apps/{aid}/users/u/sessions", headers=auth(token), json={"sessionId": f"s{i}"})
            statuses.append(r.status_code)
        assert 200 in statuses and statuses[-1] == 413, statuses
        assert statuses.index(413) <= 40, statuses


async def test_older_databases_and_backups_are_counted(tmp_path: Path, db_url: str, oai: FakeServer) -> None:
    """A backup from before the per-client totals (no ``client``/``bytes`` on its sessions) restores
    into sessions that count against their client."""
    async with running_apps(tmp_path / "data", database_url=db_url,
                            config={"max_session_bytes_per_client": LIMIT}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        token = (await client(apps, "Greedy", [aid]))["token"]
        for i in range(3):
            assert not refused(await run(apps, aid, token, f"user{i}", f"chat{i}"))
        r = await apps.admin.get(f"{A}/settings/backup?include=sessions")
        assert r.status_code == 200, r.text
        files = members(r.content)
        name = "tables/sessions/session_sessions.jsonl"
        rows = [json.loads(line) for line in files[name].splitlines()]
        assert all(row.pop("client") and row.pop("bytes") > len(TEXT) for row in rows), rows
        files[name] = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
        r = await apps.admin.post(f"{A}/settings/restore?include=sessions", content=tar_gz(files),
                                  headers={"content-type": "application/gzip"})
        assert r.status_code == 200, r.text
        # the three restored conversations count: at most two more turns fit
        assert 1 <= await fill(apps, aid, token) <= 2


async def test_migration_counts_the_sessions_of_an_older_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await migrate.upgrade(engine, "0006_artifact_totals")
        with sqlite3.connect(tmp_path / "old.db") as raw:  # the table as it was before 0007
            raw.execute("DROP INDEX ix_session_sessions_client_bytes")
            raw.execute("ALTER TABLE session_sessions DROP COLUMN client")
            raw.execute("ALTER TABLE session_sessions DROP COLUMN bytes")
            for user, sid, data in (("c1:alice", "sé", "é" * 100), ("open-user", "s", "x" * 10)):
                raw.execute("INSERT INTO session_sessions (app_name, user_id, session_id, create_time, update_time,"
                            " revision) VALUES ('a', ?, ?, 0, 0, 1)", (user, sid))
                raw.execute("INSERT INTO session_events (app_name, user_id, session_id, seq, event_id, timestamp,"
                            " data) VALUES ('a', ?, ?, 1, 'e1', 0, ?)", (user, sid, data))
            raw.execute("INSERT INTO session_state (app_name, scope, user_id, session_id, key, value)"
                        " VALUES ('a', 's', 'c1:alice', 'sé', 'client:k', '\"v\"')")
        await migrate.upgrade(engine)
        with sqlite3.connect(tmp_path / "old.db") as raw:
            rows = raw.execute("SELECT user_id, client, bytes FROM session_sessions ORDER BY user_id").fetchall()
        # as the live path counts: the row, its ids, its session state and its events, in UTF-8 bytes
        assert rows == [("c1:alice", "c1", SESSION_ROW_BYTES + len("a" + "c1:alice") + 3 + 200),
                        ("open-user", "", SESSION_ROW_BYTES + len("a" + "open-user" + "s") + 10)]
    finally:
        await engine.dispose()


async def test_a_recount_agrees_with_the_live_count(tmp_path: Path) -> None:
    """What a migration or a restore recounts is what the appends counted (state deltas are
    counted once, in the events that carry them)."""
    from google.adk.events.event import Event, EventActions
    from google.genai import types

    from magec.memory.session_quota import recount
    from magec.memory.sql_sessions import SqlSessionService

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    await migrate.upgrade(engine)
    svc = SqlSessionService(engine)
    try:
        session = await svc.create_session(app_name="a", user_id="c1:ü", session_id="sé")
        await svc.append_event(session, Event(author="user", content=types.Content(role="user", parts=[
            types.Part(text="ünïcode " * 100)]), actions=EventActions(state_delta={"client:k": "v" * 5_000})))
        live = sqlite3.connect(tmp_path / "r.db").execute("SELECT bytes FROM session_sessions").fetchone()[0]
        async with engine.begin() as conn:
            for statement in recount("sqlite"):
                await conn.execute(statement)
        again = sqlite3.connect(tmp_path / "r.db").execute("SELECT bytes FROM session_sessions").fetchone()[0]
        assert again == live > 5_000 + len("ünïcode " * 100)
    finally:
        await svc.close()
        await engine.dispose()


async def test_the_admin_and_open_mode_are_not_limited(tmp_path: Path, oai: FakeServer) -> None:
    async with running_apps(tmp_path / "data", config={"max_session_bytes_per_client": 1000}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        for i in range(3):  # open mode: no client exists, nothing to count against
            r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": f"s{i}",
                                                       "newMessage": {"parts": [{"text": TEXT}]}})
            assert not refused(r)
        # a client exists now; the admin's playground runs as no client
        await client(apps, "Some", [aid])
        for i in range(3):
            r = await apps.admin.post(f"{A}/agent/run", json={"appName": aid, "userId": "admin", "sessionId": f"p{i}",
                                                               "newMessage": {"parts": [{"text": TEXT}]}})
            assert not refused(r)


async def test_back_to_back_turns_count_what_they_stored(tmp_path: Path, oai: FakeServer) -> None:
    """A process reads a client's total at most every 2 s; between reads it used to count a turn's
    message text only (2 bytes for "hi"), not the events it stored (~1.5 kB with the answer), so a
    fast client went several times past a small limit before a read caught up."""
    limit = 6_000
    async with running_apps(tmp_path / "data", config={"max_session_bytes_per_client": limit}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        token = (await client(apps, "Quick", [aid]))["token"]
        admitted = 0
        for i in range(20):
            r = await apps.user.post(f"{U}/run", headers=auth(token), json={
                "appName": aid, "userId": f"u{i}", "sessionId": f"s{i}",
                "newMessage": {"role": "user", "parts": [{"text": "hi"}]}})
            if r.status_code == 413:
                break
            assert r.status_code == 200 and not any(e.get("errorCode") for e in r.json()), r.text
            admitted += 1
        assert 2 <= admitted <= 6, admitted  # each turn stores > 1 kB: at most ~5 fit, not 20


async def test_a_refused_responses_turn_stores_nothing(tmp_path: Path, oai: FakeServer) -> None:
    """A client over its limit continuing a ``/v1/responses`` conversation is refused, and the
    refusal stores nothing: it used to keep the failed response object (which echoes the client's
    ``instructions``), so each refusal grew the client's conversations by up to the body limit."""
    async with running_apps(tmp_path / "data", config={"max_session_bytes_per_client": LIMIT}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        token = (await client(apps, "Greedy", [aid]))["token"]
        prev = None
        for _ in range(20):
            body = {"model": aid, "input": TEXT, "user": "bob", **({"previous_response_id": prev} if prev else {})}
            r = await apps.user.post("/v1/responses", headers=auth(token), json=body)
            if r.status_code == 413:
                break
            assert r.status_code == 200, r.text
            prev = r.json()["id"]
        assert r.status_code == 413 and prev, r.text
        sessions = f"{U}/apps/{aid}/users/bob/sessions"
        listed = (await apps.user.get(sessions, headers=auth(token))).json()
        assert len(listed) == 1, listed
        path = f"{sessions}/{listed[0]['id']}"
        before = len((await apps.user.get(path, headers=auth(token))).content)
        for _ in range(3):
            r = await apps.user.post("/v1/responses", headers=auth(token), json={
                "model": aid, "input": "hi", "user": "bob", "previous_response_id": prev, "instructions": "y" * 100_000})
            assert r.status_code == 413, r.text
        after = len((await apps.user.get(path, headers=auth(token))).content)
        assert after - before < 1_000, after - before


SESSION_LIMIT = 3 * 1024 * 1024
STATE = "s" * (1024 * 1024)  # a state PATCH of it stores its event: 1 MiB


async def test_one_session_stops_at_its_own_limit(tmp_path: Path, db_url: str, oai: FakeServer) -> None:
    """``limits.maxSessionBytes``: every read, turn and PATCH of a session materialises it whole
    (and a read or PATCH answers all of it), so the per-client limit (5 GiB) let one client grow a
    session no process could load — 30 PATCHes of 2 MiB took a server from 211 MB to 1.7 GB."""
    async with running_apps(tmp_path / "data", database_url=db_url,
                            config={"max_session_bytes": SESSION_LIMIT}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        token = (await client(apps, "Hoarder", [aid]))["token"]
        url = f"{U}/apps/{aid}/users/u/sessions"
        assert (await apps.user.post(url, headers=auth(token), json={"sessionId": "big"})).status_code == 200
        statuses = [(await apps.user.patch(f"{url}/big", headers=auth(token),
                                           json={"stateDelta": {f"client:k{i}": STATE}})).status_code for i in range(4)]
        assert statuses[0] == 200 and statuses[-1] == 413, statuses
        r = await apps.user.patch(f"{url}/big", headers=auth(token), json={"stateDelta": {"client:k9": STATE}})
        assert r.status_code == 413 and "limits.maxSessionBytes " in r.json()["error"], r.text
        assert "start a new session" in r.json()["error"]
        calls = len(oai.calls())
        # a turn whose message would take it past the limit is refused before it runs; /v1 too
        r = await apps.user.post(f"{U}/run", headers=auth(token), json={
            "appName": aid, "userId": "u", "sessionId": "big", "newMessage": {"parts": [{"text": STATE}]}})
        assert [e.get("errorCode") for e in r.json()] == ["payload_too_large"], r.text
        assert "limits.maxSessionBytes " in r.json()[0]["errorMessage"]
        r = await apps.user.post("/v1/chat/completions", headers={**auth(token), "X-Session-Id": "big"},
                                 json={"model": aid, "user": "u", "messages": [{"role": "user", "content": STATE}]})
        assert r.status_code == 413 and "limits.maxSessionBytes " in r.json()["error"]["message"], r.text
        assert len(oai.calls()) == calls
        # another session of the same client goes on; deleting the big one frees its name
        assert not refused(await run(apps, aid, token, "u", "small"))
        assert (await apps.user.delete(f"{url}/big", headers=auth(token))).status_code in (200, 204)
        assert not refused(await run(apps, aid, token, "u", "big"))
        # the admin's own playground sessions name no client and are not limited (as for the
        # per-client limit)
        admin = f"{A}/agent/apps/{aid}/users/tester/sessions"
        assert (await apps.admin.post(admin, json={"sessionId": "mine"})).status_code == 200
        for i in range(4):
            r = await apps.admin.patch(f"{admin}/mine", json={"stateDelta": {f"k{i}": STATE}})
            assert r.status_code == 200, r.text


async def test_a_sessions_size_is_not_read_again_on_every_turn(tmp_path: Path, oai: FakeServer) -> None:
    """The per-session limit reads the session's stored size, but not for every turn of a chat: a
    recent read far from the limit admits the next turns (a database round trip per turn saved)."""
    async with running_apps(tmp_path / "data", config={"max_session_bytes": SESSION_LIMIT}) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        token = (await client(apps, "Chatty", [aid]))["token"]
        reads: list[str] = []

        def on(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT SESSION_SESSIONS.BYTES"):
                reads.append(statement)

        engine = apps.ctx.store.engine.sync_engine
        sa.event.listen(engine, "before_cursor_execute", on)
        try:
            for _ in range(5):
                r = await apps.user.post(f"{U}/run", headers=auth(token), json={
                    "appName": aid, "userId": "u", "sessionId": "chat", "newMessage": {"parts": [{"text": "hi"}]}})
                assert r.status_code == 200 and not any(e.get("errorCode") for e in r.json()), r.text
        finally:
            sa.event.remove(engine, "before_cursor_execute", on)
        assert len(reads) == 1, reads

