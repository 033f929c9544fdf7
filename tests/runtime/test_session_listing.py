"""The session listing (``GET …/users/{user}/sessions``, ADK's shape) holds a bounded amount of
state whatever is stored: a session whose state is too big to list, or that is not one of the most
recently updated, is listed with ``state: {}`` and ``stateOmitted: true``; reading the session
itself still gives its whole state. On each session store (SQLite, PostgreSQL, Redis). Reads of
whole sessions run a few at a time per client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from magec.api.user.session_reads import PER_CLIENT
from magec.memory.session_listing import LISTED, STATE_LIMIT, STATE_SESSIONS
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer
from magec.testing.services import Postgres
from tests.runtime.test_run_api import make_agent

U = "/api/v1/agent"


async def test_a_listing_leaves_big_and_old_states_out(session_apps: Apps, openai_x: FakeServer) -> None:
    apps = session_apps
    _, aid = await make_agent(apps, openai_x)
    base = f"{U}/apps/{aid}/users/ada/sessions"
    blob = "y" * (STATE_LIMIT + 1024)
    for sid, state in (("small", {"client:note": "kept"}), ("big", {"client:blob": blob}), ("empty", {})):
        r = await apps.user.post(f"{base}/{sid}", json={"state": state})
        assert r.status_code == 200, r.text
    r = await apps.user.get(base)
    assert r.status_code == 200, r.text
    assert len(r.content) < 4096, len(r.content)  # the big state is not in the answer
    listed = {s["id"]: s for s in r.json()}
    assert set(listed) == {"small", "big", "empty"}
    assert listed["small"]["state"] == {"client:note": "kept"} and "stateOmitted" not in listed["small"]
    assert listed["empty"]["state"] == {} and "stateOmitted" not in listed["empty"]
    assert listed["big"]["state"] == {} and listed["big"]["stateOmitted"] is True
    assert all(s["events"] == [] and s["lastUpdateTime"] > 0 and s["userId"] == "ada" for s in listed.values())
    # the session itself is read whole
    whole = (await apps.user.get(f"{base}/big")).json()
    assert whole["state"]["client:blob"] == blob
    # only the most recently updated sessions are listed with their state
    for i in range(STATE_SESSIONS):
        assert (await apps.user.post(f"{base}/later-{i}", json={"state": {"client:n": i}})).status_code == 200
    listed = {s["id"]: s for s in (await apps.user.get(base)).json()}
    assert len(listed) == STATE_SESSIONS + 3
    assert listed["small"]["state"] == {} and listed["small"]["stateOmitted"] is True
    assert listed[f"later-{STATE_SESSIONS - 1}"]["state"] == {"client:n": STATE_SESSIONS - 1}
    assert sum(1 for s in listed.values() if not s.get("stateOmitted")) == STATE_SESSIONS


async def test_a_user_of_very_many_sessions_lists_the_newest(session_apps: Apps, openai_x: FakeServer) -> None:
    """A client token holder makes one user thousands of sessions (nothing but the per-client
    stored bytes bounds them: 256 bytes each), then lists them again and again: every listed
    session cost ~50 µs on the event loop (4,000: 0.21 s), so 100,000 would hold every other client's requests 5 s per
    listing. A user's listing holds the LISTED most recently updated; the older ones stay readable."""
    apps = session_apps
    _, aid = await make_agent(apps, openai_x)
    r = await apps.admin.post("/api/v1/admin/clients", json={"name": "many", "allowedAgents": [aid]})
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    base = f"{U}/apps/{aid}/users/ada/sessions"
    made = [f"s{i:05d}" for i in range(LISTED + 5)]
    for sid in made:  # one after the other: each is updated after the one before
        assert (await apps.user.post(f"{base}/{sid}", json={}, headers=h)).status_code == 200
    r = await apps.user.get(base, headers=h)
    assert r.status_code == 200, r.text[:300]
    listed = [s["id"] for s in r.json()]
    assert listed == made[5:]  # the newest, oldest update first (ADK's order)
    assert (await apps.user.get(f"{base}/{made[0]}", headers=h)).json()["id"] == made[0]  # still there
    # continuing an old one brings it back to the listing
    r = await apps.user.patch(f"{base}/{made[0]}", json={"stateDelta": {"client:n": 1}}, headers=h)
    assert r.status_code == 200, r.text[:300]
    listed = [s["id"] for s in (await apps.user.get(base, headers=h)).json()]
    assert len(listed) == LISTED and listed[-1] == made[0] and made[5] not in listed


async def _waiting(conn: AsyncConnection, locker: int) -> int:
    """Connections of this database waiting for a lock (PostgreSQL's own view): the reads blocked
    by the locked table. (A statement waits while it is parsed, so its ``query`` and ``state``
    still show the connection's previous statement: only the wait itself tells.)"""
    return int((await conn.execute(sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
        "AND pid NOT IN (pg_backend_pid(), :locker)"), {"locker": locker})).scalar_one())


async def test_whole_session_reads_of_one_client_run_a_few_at_a_time(
    tmp_path: Path, postgres: Postgres, openai_x: FakeServer
) -> None:
    """A UI opening every session at once (Magec's voice UI does) gets every answer, but only
    :data:`PER_CLIENT` of one client's reads are in the database at a time; the rest wait."""
    url = postgres.url(postgres.create_database())
    async with running_apps(tmp_path / "data", database_url=url) as apps:
        _, aid = await make_agent(apps, openai_x)
        base = f"{U}/apps/{aid}/users/ada/sessions"
        assert (await apps.user.post(f"{base}/s", json={"state": {"client:k": "v"}})).status_code == 200
        # the pool's kept connections opened beforehand (as after any busy moment): what waits
        # below is held back by magec, not by PostgreSQL starting connections
        async with contextlib.AsyncExitStack() as held:
            for _ in range(3 * PER_CLIENT):
                await held.enter_async_context(apps.ctx.store.engine.connect())
        watcher = create_async_engine(url)
        try:
            async with watcher.connect() as locker, watcher.connect() as observer:
                # the database is slow for a moment: the sessions table locked by maintenance
                await locker.execute(sa.text("BEGIN"))
                pid = int((await locker.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
                await locker.execute(sa.text("LOCK TABLE session_sessions IN ACCESS EXCLUSIVE MODE"))
                reads = [asyncio.create_task(apps.user.get(f"{base}/s")) for _ in range(3 * PER_CLIENT)]
                deadline = time.monotonic() + 20
                while await _waiting(observer, pid) < PER_CLIENT:
                    assert time.monotonic() < deadline, await _waiting(observer, pid)
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)  # the others had every chance to reach the database meanwhile
                assert await _waiting(observer, pid) == PER_CLIENT
                await locker.execute(sa.text("COMMIT"))
                answers = await asyncio.gather(*reads)
        finally:
            await watcher.dispose()
        assert [r.status_code for r in answers] == [200] * len(answers)
        assert all(r.json()["state"] == {"client:k": "v"} and r.json()["id"] == "s" for r in answers)
