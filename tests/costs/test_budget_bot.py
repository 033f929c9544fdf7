"""A Telegram bot (against the loopback Bot API) whose client's budget is spent answers the user
with the refusal's message instead of calling the model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_platforms import TelegramFake
from magec.testing.fake_providers import FakeServer, OpenAIFake, RecordedRequest, Reply, fake_audio
from tests.clients.bots.helpers import running
from tests.costs.helpers import A, agent, backend


@pytest.fixture
def oai() -> Iterator[FakeServer]:
    def respond(req: RecordedRequest) -> Reply | None:
        return Reply(text="the answer", usage=(600, 400)) if req.route == "chat" else None

    with FakeServer(OpenAIFake("oai", responder=respond)) as s:
        yield s


@pytest.fixture
def tg() -> Iterator[TelegramFake]:
    with TelegramFake() as fake:
        yield fake


async def test_telegram_bot_answers_with_the_budget_message(sqlite_apps: Apps, oai: FakeServer,
                                                             tg: TelegramFake) -> None:
    apps = sqlite_apps
    aid = await agent(apps, await backend(apps, oai), "Helper")
    r = await apps.admin.post(f"{A}/clients", json={
        "name": "Team bot", "type": "telegram", "allowedAgents": [aid],
        "config": {"telegram": {"botToken": tg.token, "apiBaseUrl": tg.url}},
        "budget": {"amount": 1000, "unit": "tokens", "period": "day"}})
    assert r.status_code == 201, r.text
    async with running(apps, r.json()["id"]):
        tg.send_text(chat_id=5101, user_id=5101, text="first question")
        [first] = await tg.await_sent(5101, "sendMessage")
        assert "the answer" in first.text
        calls = len(oai.calls())
        tg.send_text(chat_id=5101, user_id=5101, text="second question")
        _, second = await tg.await_sent(5101, "sendMessage", count=2)
    assert "daily budget of client 'Team bot' is spent" in second.text
    assert "1,000 of 1,000 tokens" in second.text
    assert len(oai.calls()) == calls, "the refused turn never reached the provider"


async def test_spent_budget_refuses_a_voice_note_before_transcribing_it(sqlite_apps: Apps, oai: FakeServer,
                                                                         tg: TelegramFake) -> None:
    """Speech-to-text costs provider money too: a voice note to a spent client's bot is answered
    with the refusal and never reaches the agent's STT."""
    apps = sqlite_apps
    b = await backend(apps, oai)
    aid = await agent(apps, b, "Listener", transcription={"backend": b, "model": "whisper-1"})
    r = await apps.admin.post(f"{A}/clients", json={
        "name": "Voice bot", "type": "telegram", "allowedAgents": [aid],
        "config": {"telegram": {"botToken": tg.token, "apiBaseUrl": tg.url}},
        "budget": {"amount": 1000, "unit": "tokens", "period": "day"}})
    assert r.status_code == 201, r.text
    async with running(apps, r.json()["id"]):
        tg.send_text(chat_id=5201, user_id=5201, text="first question")
        [first] = await tg.await_sent(5201, "sendMessage")
        assert "the answer" in first.text
        tg.send_voice(chat_id=5201, user_id=5201, audio=fake_audio("second question"))
        _, second = await tg.await_sent(5201, "sendMessage", count=2)
    assert "daily budget of client 'Voice bot' is spent" in second.text
    assert oai.requests_to("stt") == [], "the refused voice note was never transcribed"
