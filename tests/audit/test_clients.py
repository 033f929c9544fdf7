"""A turn on each client surface — Telegram (text and a voice note), Slack, Discord, a webhook and
a cron job — is recorded with the client, its type as Magec's ``source``, the platform user and
the agent that answered. Bots run against the loopback platform fakes, as the supervisor runs them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_platforms import DiscordFake, SlackFake, TelegramFake, voice_note
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from tests.audit.helpers import A, agent, backend, only, turns


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("botllm")) as s:
        yield s


@pytest.fixture
async def apps(tmp_path: Path, llm: FakeServer) -> AsyncIterator[Apps]:
    llm.clear()
    async with running_apps(tmp_path / "data") as a:
        yield a


async def _setup(apps: Apps, llm: FakeServer, voice: bool = False) -> str:
    bid = await backend(apps, llm.url)
    extra: dict[str, Any] = {}
    if voice:
        extra = {"transcription": {"backend": bid, "model": "whisper-1"}}
    return await agent(apps, bid, "Bot agent", **extra)


async def _client(apps: Apps, ctype: str, aid: str, config: dict[str, Any]) -> dict[str, Any]:
    r = await apps.admin.post(f"{A}/clients", json={"name": f"{ctype} client", "type": ctype, "allowedAgents": [aid],
                                                     "config": {ctype: config}})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _check(conv: dict[str, Any], client: dict[str, Any], aid: str, user: str) -> None:
    assert conv["clientId"] == client["id"] and conv["clientName"] == client["name"]
    assert conv["source"] == client["type"] and conv["surface"] == client["type"]
    assert conv["agentId"] == aid and conv["userId"] == user and conv["turns"] == 1


async def test_telegram_text_and_voice_note(apps: Apps, llm: FakeServer) -> None:
    aid = await _setup(apps, llm, voice=True)
    with TelegramFake() as tg:
        c = await _client(apps, "telegram", aid, {"botToken": tg.token, "apiBaseUrl": tg.url})
        tg.send_text(chat_id=5101, user_id=5101, text="TG-TEXT", username="grandma")
        await tg.await_sent(5101, "sendMessage")
        llm.script(Reply(text="TG-VOICE heard"), route="stt")
        tg.send_voice(chat_id=5102, user_id=5102, audio=voice_note("hello"))
        await tg.await_sent(5102, "sendMessage")
    _check(await only(apps, q="TG-TEXT"), c, aid, "5101")
    # the name the platform gives, beside the id nobody recognises (and searchable)
    assert (await only(apps, q="TG-TEXT"))["userName"] == "@grandma"
    assert (await only(apps, q="grandma"))["userId"] == "5101"
    [t] = await turns(apps, q="TG-VOICE")
    assert t["voice"] is True and t["surface"] == "telegram" and t["userMessage"] == "TG-VOICE heard"
    assert t["answer"] == "botllm says: TG-VOICE heard"


async def test_slack_and_discord(apps: Apps, llm: FakeServer) -> None:
    aid = await _setup(apps, llm)
    with SlackFake() as sl, DiscordFake() as dc:
        s = await _client(apps, "slack", aid, {"botToken": sl.bot_token, "appToken": sl.app_token,
                                               "apiBaseUrl": sl.api_base})
        d = await _client(apps, "discord", aid, {"botToken": dc.token, "apiBaseUrl": dc.api_base})
        await sl.await_connected()
        sl.send_message("D300", "U300", "SLACK-1", channel_type="im")
        await sl.await_sent("D300", "chat.postMessage")
        await dc.await_connected()
        dc.send_message("7300", "730", "DISCORD-1", guild_id=None, username="bob")
        await dc.await_sent("7300", "message")
    _check(await only(apps, q="SLACK-1"), s, aid, "U300")
    _check(await only(apps, q="DISCORD-1"), d, aid, "730")
    assert (await only(apps, q="SLACK-1"))["userName"] == "@u300"  # Slack's users.info, as Magec asks it
    assert (await only(apps, q="DISCORD-1"))["userName"] == "@bob"
    listed = (await apps.admin.get(f"{A}/conversations", params={"source": "slack", "perspective": "user"})).json()
    assert [c["clientId"] for c in listed["items"]] == [s["id"]]
    assert (await only(apps, clientId=d["id"]))["source"] == "discord"


async def test_conversations_recorded_before_names_show_the_id_alone(tmp_path: Path) -> None:
    """A database from before the display names (no ``user_name`` column) is migrated at start-up:
    its conversations are listed as before, by id alone."""
    import sqlalchemy as sa

    from magec.audit.tables import audit_conversations
    from magec.store.migrate import upgrade
    from magec.store.store import make_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'magec.db'}"
    (tmp_path / "data").mkdir()
    engine = make_engine(url)
    await upgrade(engine, "0010_a2a_tasks")
    now = datetime.now(UTC)
    async with engine.begin() as conn:  # the table as 0004_audit made it then
        await conn.execute(sa.text("ALTER TABLE audit_conversations DROP COLUMN user_name"))
        await conn.execute(audit_conversations.insert().values(
            id="old-1", admin_id="old-1a", app_id="ag-1", owner="99", user_id="99", session_id="s-old",
            started_at=now, ended_at=now, preview="OLD-1"))
    await engine.dispose()
    async with running_apps(tmp_path / "data", database_url=url) as apps:
        old = await only(apps, q="OLD-1")
        assert old["userId"] == "99" and "userName" not in old, old


async def test_webhook(apps: Apps, llm: FakeServer) -> None:
    aid = await _setup(apps, llm)
    c = await _client(apps, "webhook", aid, {"passthrough": True})
    r = await apps.user.post(f"/api/v1/webhooks/{c['id']}", json={"prompt": "HOOK-1", "sessionId": "h-1"},
                             headers={"Authorization": f"Bearer {c['token']}"})
    assert r.status_code == 200, r.text
    conv = await only(apps, q="HOOK-1")
    assert conv["clientId"] == c["id"] and conv["source"] == "webhook" and conv["sessionId"] == "h-1"


async def _status(apps: Apps, cid: str) -> dict[str, Any]:
    r = await apps.admin.get(f"{A}/clients/{cid}")
    assert r.status_code == 200, r.text
    return dict(r.json()["status"] or {})


async def test_cron(apps: Apps, llm: FakeServer) -> None:
    aid = await _setup(apps, llm)
    r = await apps.admin.post(f"{A}/commands", json={"name": "report", "prompt": "CRON-1 write the report"})
    assert r.status_code == 201, r.text
    slot = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    schedule = f"{slot.second} {slot.minute} {slot.hour} {slot.day} {slot.month} *"
    c = await _client(apps, "cron", aid, {"schedule": schedule, "commandId": r.json()["id"]})
    deadline = time.monotonic() + 20
    while not (await _status(apps, c["id"])).get("lastOk"):  # the job reports its run in its status
        assert time.monotonic() < deadline, "the cron job never ran"
        await asyncio.sleep(0.2)
    conv = await only(apps, q="CRON-1")
    assert conv["clientId"] == c["id"] and conv["source"] == "cron" and conv["surface"] == "cron"
    assert conv["userId"] == "cron"
