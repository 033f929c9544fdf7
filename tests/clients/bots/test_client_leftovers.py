"""A client that is deleted — or dropped by a restore — takes its running state with it, as an
operator and a chat user see it: a client brought back with the same id (a restored backup, which
carries no such state) starts clean. A Telegram chat's ``/agent`` choice is gone (the chat talks to
the default agent again), and a cron job's run count starts from zero."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from magec.testing.apps import Apps
from magec.testing.fake_platforms import TelegramFake
from magec.testing.fake_providers import FakeServer
from tests.clients.bots.helpers import A, admin_status, agents, client, running


async def backup(apps: Apps) -> bytes:
    r = await apps.admin.get(f"{A}/settings/backup")
    assert r.status_code == 200, r.text
    return r.content


async def restore(apps: Apps, archive: bytes) -> None:
    r = await apps.admin.post(f"{A}/settings/restore", content=archive, headers={"content-type": "application/gzip"})
    assert r.status_code == 200, r.text


async def test_a_chats_agent_choice_goes_with_its_client(sqlite_apps: Apps, telegram_fake: TelegramFake,
                                                         alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    without = await backup(sqlite_apps)
    cid = await client(sqlite_apps, "telegram", {"botToken": tg.token, "apiBaseUrl": tg.url}, [s.alpha, s.beta])
    sent = 0

    async def say(text: str) -> str:
        nonlocal sent
        tg.send_text(chat_id=4301, user_id=4301, text=text)
        sent += 1
        msgs = await tg.await_sent(4301, "sendMessage", count=sent)
        return str(msgs[-1].text)

    async with running(sqlite_apps, cid):
        assert "Switched to <b>Beta</b>" in await say("/agent beta")
        assert await say("who are you") == "beta says: who are you"
    with_client = await backup(sqlite_apps)

    # deleted, then back with the same id: the chat talks to the default agent again
    r = await sqlite_apps.admin.delete(f"{A}/clients/{cid}")
    assert r.status_code == 204, r.text
    await restore(sqlite_apps, with_client)
    async with running(sqlite_apps, cid):
        assert await say("hello") == "alpha says: hello"
        assert "Switched to <b>Beta</b>" in await say("/agent beta")
    # dropped by a restore of a backup without it, then back: the same
    await restore(sqlite_apps, without)
    await restore(sqlite_apps, with_client)
    async with running(sqlite_apps, cid):
        assert await say("hi again") == "alpha says: hi again"


async def test_a_cron_jobs_runs_go_when_a_restore_drops_it(sqlite_apps: Apps, alpha_llm: FakeServer,
                                                           beta_llm: FakeServer) -> None:
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    r = await sqlite_apps.admin.post(f"{A}/commands", json={"name": "tick", "prompt": "tick"})
    assert r.status_code == 201, r.text
    cmd = r.json()["id"]
    without = await backup(sqlite_apps)
    body: dict[str, Any] = {"name": "ticker", "type": "cron", "allowedAgents": [s.alpha],
                            "config": {"cron": {"schedule": "@every 1s", "commandId": cmd}}}
    r = await sqlite_apps.admin.post(f"{A}/clients", json=body)
    assert r.status_code == 201, r.text
    job = r.json()
    deadline = time.monotonic() + 30
    while (await admin_status(sqlite_apps, job["id"])).get("runs", 0) < 2:
        assert time.monotonic() < deadline, "the job did not run twice"
        await asyncio.sleep(0.2)
    r = await sqlite_apps.admin.put(f"{A}/clients/{job['id']}", json={**job, "enabled": False})
    assert r.status_code == 200, r.text
    with_job = await backup(sqlite_apps)
    await restore(sqlite_apps, without)
    await restore(sqlite_apps, with_job)  # the job again (disabled), with no run history in the archive
    st = await admin_status(sqlite_apps, job["id"])
    assert st.get("runs", 0) == 0 and not st.get("lastRun"), st
