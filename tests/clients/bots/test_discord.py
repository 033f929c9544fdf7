"""The Discord bot against a loopback Discord (REST + Gateway): DMs, mentions and threads, audio,
commands, allow-lists and outages. Setup through the Admin API; the worker runs in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magec.clients.botkit import is_ogg_opus
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_platforms import DiscordFake, espeak_wav, voice_note
from magec.testing.fake_providers import FakeServer, Reply
from magec.testing.services import free_port
from tests.clients.bots.helpers import admin_status, agents, client, requests_to, running, until


def dc_config(dc: DiscordFake, **extra: Any) -> dict[str, Any]:
    return {"botToken": dc.token, "apiBaseUrl": dc.api_base, **extra}


async def test_dm_and_mention_with_thread(sqlite_apps: Apps, discord_fake: DiscordFake, alpha_llm: FakeServer,
                                          beta_llm: FakeServer) -> None:
    dc = discord_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = dc_config(dc)
    cid = await client(sqlite_apps, "discord", cfg, [s.alpha, s.beta])
    async with running(sqlite_apps, cid) as ctx:
        await dc.await_connected()
        assert dc.identifies[-1]["intents"] & (1 << 15)  # MESSAGE_CONTENT asked for
        await until(lambda: ctx.status.is_connected)
        assert ctx.status.identity == "@magec-bot"
        # a DM: answered in the DM channel, as a reply to the message
        mid = dc.send_message("5001", "71", "hello there", guild_id=None)
        [dm] = await dc.await_sent("5001", "message")
        assert dm.text == "alpha says: hello there"
        assert dm.data["message_reference"]["message_id"] == mid
        # a guild message without a mention is not for the bot; one with a mention opens a thread
        dc.send_message("6001", "71", "just chatting")
        mid = dc.send_message("6001", "71", "what is up", mention=True)
        [thread] = await dc.await_sent("6001", "thread")
        assert thread.data["id"] == mid
        [answer] = await dc.await_sent(mid, "message")
        assert answer.text == "alpha says: what is up"
        await dc.await_for(lambda _: dc.heartbeats >= 1)
    assert [x for x in requests_to(alpha_llm, "chat") if "just chatting" in str(x.json)] == []
    assert dc.sent_to("6001", "message") == []


async def test_thread_history_is_context(sqlite_apps: Apps, discord_fake: DiscordFake, alpha_llm: FakeServer,
                                         beta_llm: FakeServer) -> None:
    dc = discord_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = dc_config(dc, threadHistoryLimit=2)
    cid = await client(sqlite_apps, "discord", cfg, [s.alpha])
    dc.create_thread("7001", parent_id="6002")
    for text in ("oldest words", "we picked tuesday", "bob agrees"):
        dc.send_message("7001", "72", text, username="bob", deliver=False)
    async with running(sqlite_apps, cid):
        await dc.await_connected()
        dc.send_message("7001", "73", "summarise", mention=True)
        [answer] = await dc.await_sent("7001", "message")
    prompt = str(requests_to(alpha_llm, "chat")[-1].json["messages"])
    assert "MAGEC_THREAD_HISTORY" in prompt and "[Bob]: bob agrees" in prompt
    # threadHistoryLimit=2: the newest two messages, the current one and one before it
    assert "tuesday" not in prompt and "oldest words" not in prompt
    assert answer.text.endswith("summarise")


async def test_voice_message_and_commands(sqlite_apps: Apps, discord_fake: DiscordFake, alpha_llm: FakeServer,
                                          beta_llm: FakeServer) -> None:
    dc = discord_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = dc_config(dc, responseMode="both")
    cid = await client(sqlite_apps, "discord", cfg, [s.alpha, s.beta])
    note = voice_note("turn on the lights")
    alpha_llm.script(Reply(text="turn on the lights"), route="stt")
    alpha_llm.script(Reply(audio=espeak_wav("done")), route="tts")
    async with running(sqlite_apps, cid):
        await dc.await_connected()
        dc.send_message("5002", "74", "", guild_id=None, voice=True,
                        attachments=[("voice-message.ogg", "audio/ogg", note)])
        text, voice = await dc.await_sent("5002", "message", count=2)
        assert text.text == "alpha says: turn on the lights"
        name, ctype, audio = voice.files["files[0]"]
        assert name == "answer.ogg" and ctype == "audio/ogg" and is_ogg_opus(audio)
        assert json.loads(json.dumps(voice.data))["attachments"][0]["filename"] == "answer.ogg"
        assert requests_to(alpha_llm, "stt")[-1].files["file"][2] == note
        # !agent switches this DM to Beta; !responsemode text
        dc.send_message("5002", "74", "!agent Beta", guild_id=None)
        dc.send_message("5002", "74", "!responsemode text", guild_id=None)
        dc.send_message("5002", "74", "hi", guild_id=None)
        msgs = await dc.await_sent("5002", "message", count=5)
        assert "Switched to Beta" in msgs[2].text and "`text`" in msgs[3].text
        assert msgs[4].text == "beta says: hi"
        # spoken answers asked of Beta, which has no TTS: the acknowledgement says they stay text
        dc.send_message("5002", "74", "!responsemode voice", guild_id=None)
        ack = (await dc.await_sent("5002", "message", count=6))[5]
        assert "Beta has no text-to-speech (TTS) backend" in ack.text, ack.text


async def test_not_allowed_and_platform_down(sqlite_apps: Apps, discord_fake: DiscordFake, alpha_llm: FakeServer,
                                             beta_llm: FakeServer) -> None:
    dc = discord_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    ok_cfg = dc_config(dc, allowedUsers=["75"])
    down_cfg = {"botToken": "down.discord-token-secret", "apiBaseUrl": f"http://127.0.0.1:{free_port()}/api/v10"}
    bad_cfg = dc_config(dc, botToken="bad.discord-token-secret")
    ok = await client(sqlite_apps, "discord", ok_cfg, [s.alpha], "ok")
    down = await client(sqlite_apps, "discord", down_cfg, [s.alpha], "down")
    bad = await client(sqlite_apps, "discord", bad_cfg, [s.alpha], "bad")
    async with (
        running(sqlite_apps, ok),
        running(sqlite_apps, down) as down_ctx,
        running(sqlite_apps, bad) as bad_ctx,
    ):
        await dc.await_connected()
        await until(lambda: down_ctx.status.last_error and bad_ctx.status.last_error)
        view = await admin_status(sqlite_apps, down)
        assert view["connected"] is False and view["lastError"] and "down.discord-token-secret" not in str(view)
        dc.send_message("5003", "76", "stranger here", guild_id=None)
        dc.send_message("5004", "75", "friend here", guild_id=None)
        [reply] = await dc.await_sent("5004", "message")
        assert reply.text == "alpha says: friend here"
    assert dc.sent_to("5003") == []
    assert not down_ctx.status.is_connected and "down.discord-token-secret" not in str(down_ctx.status.view())
    assert "401" in str(bad_ctx.status.last_error) and "bad.discord" not in str(bad_ctx.status.view())


async def test_gateway_drop_resumes(sqlite_apps: Apps, discord_fake: DiscordFake, alpha_llm: FakeServer,
                                    beta_llm: FakeServer) -> None:
    dc = discord_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = dc_config(dc)
    cid = await client(sqlite_apps, "discord", cfg, [s.alpha])
    async with running(sqlite_apps, cid) as ctx:
        await dc.await_connected()
        identifies = len(dc.identifies)
        dc.drop()
        await dc.await_for(lambda _: len(dc.resumes) >= 1 and dc.connected > 0)
        assert dc.resumes[-1]["session_id"] and len(dc.identifies) == identifies  # resumed, not re-identified
        await until(lambda: ctx.status.is_connected)
        dc.send_message("5005", "77", "after the blip", guild_id=None)
        [reply] = await dc.await_sent("5005", "message")
        assert reply.text == "alpha says: after the blip"


async def test_unacknowledged_heartbeats_reconnect(sqlite_apps: Apps, discord_fake: DiscordFake,
                                                   alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    dc = discord_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = dc_config(dc)
    cid = await client(sqlite_apps, "discord", cfg, [s.alpha])
    dc.ack_heartbeats = False
    try:
        async with running(sqlite_apps, cid) as ctx:
            await dc.await_connected()
            await dc.await_for(lambda _: len(dc.resumes) >= 1)  # the zombie was closed and resumed
            dc.ack_heartbeats = True
            await until(lambda: ctx.status.is_connected)
            await dc.await_connected()
            dc.send_message("5006", "78", "alive?", guild_id=None)
            [reply] = await dc.await_sent("5006", "message")
            assert reply.text == "alpha says: alive?"
    finally:
        dc.ack_heartbeats = True


async def test_audio_attachment_over_the_upload_limit_is_not_downloaded(
    tmp_path: Path, discord_fake: DiscordFake, alpha_llm: FakeServer, beta_llm: FakeServer
) -> None:
    # an attachment may be hundreds of MB: limits.uploadBytes applies before it is fetched
    dc = discord_fake
    async with running_apps(tmp_path / "data", config={"upload_limit_bytes": 64 * 1024}) as apps:
        s = await agents(apps, alpha_llm.url, beta_llm.url)
        cid = await client(apps, "discord", dc_config(dc), [s.alpha])
        async with running(apps, cid):
            await dc.await_connected()
            dc.send_message("5003", "75", "", guild_id=None, attachments=[("huge.mp3", "audio/mpeg", b"\xff" * 300_000)])
            [reply] = await dc.await_sent("5003", "message")
    assert not [path for _, path in dc.calls if path.startswith("/attachments/")]  # never downloaded
    assert reply.text == "⚠️ the audio file is larger than the 64 KB limit"
    assert requests_to(alpha_llm, "stt") == []
