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
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from tests.backup.helpers import backup, restored
from tests.clients.bots.helpers import A, admin_status, agents, client, running


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
    await restored(sqlite_apps, with_client)
    async with running(sqlite_apps, cid):
        assert await say("hello") == "alpha says: hello"
        assert "Switched to <b>Beta</b>" in await say("/agent beta")
    # dropped by a restore of a backup without it, then back: the same
    await restored(sqlite_apps, without)
    await restored(sqlite_apps, with_client)
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
    await restored(sqlite_apps, without)
    await restored(sqlite_apps, with_job)  # the job again (disabled), with no run history in the archive
    st = await admin_status(sqlite_apps, job["id"])
    assert st.get("runs", 0) == 0 and not st.get("lastRun"), st


async def test_a_deleted_bots_unanswered_messages_are_not_answered_by_the_client_back_with_its_id(
        sqlite_apps: Apps, telegram_fake: TelegramFake, beta_llm: FakeServer) -> None:
    """A Telegram bot deleted while a chat's question is with its agent and another waits behind
    it: both were written down (the bots' inbox) and confirmed to Telegram. Restored with the same
    id, the bot must not answer them (or ask their user to send them again): they were the deleted
    client's. It answers what is sent to it now."""
    tg = telegram_fake
    with FakeServer(OpenAIFake("slow")) as slow:
        slow.script(Reply(text="never", delay=300))  # the first question hangs; the rest are answered
        s = await agents(sqlite_apps, slow.url, beta_llm.url)
        cid = await client(sqlite_apps, "telegram", {"botToken": tg.token, "apiBaseUrl": tg.url}, [s.alpha])
        with_client = await backup(sqlite_apps)
        async with running(sqlite_apps, cid):
            tg.send_text(chat_id=4401, user_id=4401, text="secret question")
            deadline = time.monotonic() + 30
            while not slow.calls():
                assert time.monotonic() < deadline, "the question never reached the provider"
                await asyncio.sleep(0.05)
            queued = tg.send_text(chat_id=4401, user_id=4401, text="queued question")
            while not tg.confirmed(queued):
                assert time.monotonic() < deadline, "telegram never got the second question confirmed"
                await asyncio.sleep(0.05)
        r = await sqlite_apps.admin.delete(f"{A}/clients/{cid}")
        assert r.status_code == 204, r.text
        assert tg.sent_to(4401, "sendMessage") == []
        await restored(sqlite_apps, with_client)
        async with running(sqlite_apps, cid):
            tg.send_text(chat_id=4401, user_id=4401, text="new question")
            sent = await tg.await_sent(4401, "sendMessage")
            assert [m.text for m in sent] == ["slow says: new question"]
            assert len(slow.calls()) == 2  # the old questions were not run
