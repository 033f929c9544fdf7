"""The Telegram bot against a loopback Bot API: text, voice notes, commands, allow-lists, outages.

Agents, backends and the client are created through the Admin API; the worker runs in-process with
a real Conversations gateway, exactly what the supervisor hands it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magec.clients.botkit import is_ogg_opus
from magec.importer import import_store
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_platforms import Sent, TelegramFake, espeak_wav, voice_note
from magec.testing.fake_providers import FakeServer, Reply, fake_audio
from magec.testing.services import free_port
from tests.clients.bots.helpers import admin_status, agents, client, requests_to, running, until


def tg_config(tg: TelegramFake, **extra: Any) -> dict[str, Any]:
    return {"botToken": tg.token, "apiBaseUrl": tg.url, **extra}


async def test_text_in_answer_out(sqlite_apps: Apps, telegram_fake: TelegramFake, alpha_llm: FakeServer,
                                  beta_llm: FakeServer) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = tg_config(tg)
    cid = await client(sqlite_apps, "telegram", cfg, [s.alpha, s.beta])
    async with running(sqlite_apps, cid) as ctx:
        tg.send_text(chat_id=4201, user_id=4201, text="hello there")
        [reply] = await tg.await_sent(4201, "sendMessage")
        assert reply.text == "alpha says: hello there"
        assert reply.data["parse_mode"] == "HTML"
        assert ctx.status.is_connected and ctx.status.identity == "@magec_test_bot"
        assert ctx.status.last_message_at is not None
        # the same chat keeps its session: the provider sees the first exchange in the second turn
        tg.send_text(chat_id=4201, user_id=4201, text="again")
        await tg.await_sent(4201, "sendMessage", count=2)
        history = [m["content"] for m in requests_to(alpha_llm, "chat")[-1].json["messages"]]
        assert "hello there" in str(history) and "alpha says: hello there" in str(history)
    assert ("4201", "typing") in tg.actions


async def test_voice_note_in_text_and_voice_out(sqlite_apps: Apps, telegram_fake: TelegramFake,
                                                alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = tg_config(tg, responseMode="both")
    cid = await client(sqlite_apps, "telegram", cfg, [s.alpha])
    note = voice_note("what is the weather")  # real espeak-ng speech, OGG/Opus as Telegram stores it
    alpha_llm.script(Reply(text="what is the weather"), route="stt")
    alpha_llm.script(Reply(audio=espeak_wav("it is sunny")), route="tts")  # the TTS answers WAV
    async with running(sqlite_apps, cid):
        tg.send_voice(chat_id=4202, user_id=4202, audio=note)
        [text] = await tg.await_sent(4202, "sendMessage")
        [voice] = await tg.await_sent(4202, "sendVoice")
    assert text.text == "alpha says: what is the weather"
    stt = requests_to(alpha_llm, "stt")[-1]
    assert stt.files["file"][2] == note  # the voice note reached the agent's STT as sent
    tts = requests_to(alpha_llm, "tts")[-1]
    assert tts.json["input"] == "alpha says: what is the weather"
    filename, _, audio = voice.files["voice"]
    assert is_ogg_opus(audio) and filename.endswith(".ogg")  # WAV converted to an OGG/Opus voice note


async def test_response_modes(sqlite_apps: Apps, telegram_fake: TelegramFake, alpha_llm: FakeServer,
                              beta_llm: FakeServer) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = tg_config(tg, responseMode="mirror")
    cid = await client(sqlite_apps, "telegram", cfg, [s.alpha])
    alpha_llm.script(Reply(text="play a song"), route="stt")
    async with running(sqlite_apps, cid):
        # mirror: text → text only
        tg.send_text(chat_id=4203, user_id=4203, text="hi")
        await tg.await_sent(4203, "sendMessage")
        # mirror: voice → voice only (the fake TTS bytes do not decode: sent as an audio file)
        tg.send_voice(chat_id=4203, user_id=4203, audio=voice_note("play a song"))
        [audio] = await tg.await_sent(4203, "sendAudio")
        assert audio.files["audio"][2] == fake_audio("alpha says: play a song")
        # /responsemode voice for this chat: a text message gets a voice answer, no text
        tg.send_text(chat_id=4203, user_id=4203, text="/responsemode voice")
        [_, ack] = await tg.await_sent(4203, "sendMessage", count=2)
        assert "voice" in ack.text and "Note" not in ack.text  # Alpha speaks: nothing to warn of
        alpha_llm.script(Reply(audio=espeak_wav("ok")), route="tts")
        tg.send_text(chat_id=4203, user_id=4203, text="say it")
        [voice] = await tg.await_sent(4203, "sendVoice")
        assert is_ogg_opus(voice.files["voice"][2])
        tg.send_text(chat_id=4203, user_id=4203, text="/responsemode loud")
        msgs = await tg.await_sent(4203, "sendMessage", count=3)
        assert "Unknown mode" in msgs[2].text
    assert len(tg.sent_to(4203, "sendMessage")) == 3  # no text answers in voice / mirror-voice turns


async def test_agent_switching_per_chat(sqlite_apps: Apps, telegram_fake: TelegramFake, alpha_llm: FakeServer,
                                        beta_llm: FakeServer) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = tg_config(tg)
    cid = await client(sqlite_apps, "telegram", cfg, [s.alpha, s.beta])
    async with running(sqlite_apps, cid):
        tg.send_text(chat_id=4204, user_id=4204, text="/agent")
        [listing] = await tg.await_sent(4204, "sendMessage")
        assert "Alpha" in listing.text and "Beta" in listing.text and "▸ Alpha" in listing.text
        assert "inline_keyboard" in str(listing.data["reply_markup"])
        tg.send_text(chat_id=4204, user_id=4204, text="/agent beta")  # by name, any case
        [_, switched] = await tg.await_sent(4204, "sendMessage", count=2)
        assert "Switched to <b>Beta</b>" in switched.text
        tg.send_text(chat_id=4204, user_id=4204, text="who are you")
        [*_, answer] = await tg.await_sent(4204, "sendMessage", count=3)
        assert answer.text == "beta says: who are you"
        # another chat still talks to the default agent
        tg.send_text(chat_id=4205, user_id=4205, text="and you")
        [other] = await tg.await_sent(4205, "sendMessage")
        assert other.text == "alpha says: and you"
        # the inline button switches back; an agent the client may not use is refused
        tg.press_button(chat_id=4204, user_id=4204, data=f"agent:{s.alpha}")
        msgs = await tg.await_sent(4204, "sendMessage", count=4)
        assert "Switched to <b>Alpha</b>" in msgs[3].text
        tg.send_text(chat_id=4205, user_id=4205, text="/agent nobody")
        [_, refused] = await tg.await_sent(4205, "sendMessage", count=2)
        assert "Unknown agent" in refused.text
        # what may be typed instead, by name (ids alone mean nothing to someone in a chat)
        assert f"Alpha (<code>{s.alpha}</code>)" in refused.text and "Beta (" in refused.text
        # /reset starts a fresh session: the next turn carries no history
        tg.send_text(chat_id=4205, user_id=4205, text="/reset")
        await tg.await_sent(4205, "sendMessage", count=3)
        tg.send_text(chat_id=4205, user_id=4205, text="fresh")
        await tg.await_sent(4205, "sendMessage", count=4)
    assert "and you" not in str(requests_to(alpha_llm, "chat")[-1].json["messages"])


async def test_user_not_allowed_is_ignored(sqlite_apps: Apps, telegram_fake: TelegramFake, alpha_llm: FakeServer,
                                           beta_llm: FakeServer) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = tg_config(tg, allowedUsers=[4206], allowedChats=[-100777])
    cid = await client(sqlite_apps, "telegram", cfg, [s.alpha])
    async with running(sqlite_apps, cid):
        tg.send_text(chat_id=4207, user_id=4207, text="let me in")  # stranger, private chat
        tg.send_text(chat_id=4207, user_id=4207, text="/start")
        tg.send_text(chat_id=-100777, user_id=4207, text="in the allowed group", chat_type="supergroup")
        tg.send_text(chat_id=4206, user_id=4206, text="me")  # allowed user
        await tg.await_sent(-100777, "sendMessage")
        await tg.await_sent(4206, "sendMessage")
    assert tg.sent_to(4207) == []
    assert all("let me in" not in str(r.json) for r in requests_to(alpha_llm, "chat"))


async def test_imported_single_id_allow_list_lets_only_that_id_in(
    sqlite_apps: Apps, telegram_fake: TelegramFake, alpha_llm: FakeServer, beta_llm: FakeServer
) -> None:
    # imports are stored as written (no schema check), so a hand-edited backup may hold
    # allowedUsers: 4306 where [4306] was meant. Read as "no list", that opened the bot (and the
    # agents' tools) to everyone; it means that one user.
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cid = "c0000000-0000-0000-0000-0000000004b1"
    item = {"id": cid, "name": "hand-edited", "type": "telegram", "token": "mgc_hand_edited_token_value",
            "allowedAgents": [s.alpha], "enabled": True,
            "config": {"telegram": tg_config(tg, allowedUsers=4306)}}
    assert (await import_store(sqlite_apps.ctx.store, {"clients": [item]}))["clients"] == 1
    async with running(sqlite_apps, cid):
        tg.send_text(chat_id=4307, user_id=4307, text="let me in")  # stranger
        tg.send_text(chat_id=4306, user_id=4306, text="me")  # the one allowed user
        [reply] = await tg.await_sent(4306, "sendMessage")
    assert reply.text == "alpha says: me"
    assert tg.sent_to(4307) == []
    assert all("let me in" not in str(r.json) for r in requests_to(alpha_llm, "chat"))


async def test_long_markdown_answer_is_split_and_escaped(sqlite_apps: Apps, telegram_fake: TelegramFake,
                                                         alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = tg_config(tg)
    cid = await client(sqlite_apps, "telegram", cfg, [s.alpha])
    long = "**Title** with <script>x</script> & `a<b`\n\n" + ("word " * 1000 + "\n\n") * 2
    alpha_llm.script(Reply(text=long))
    async with running(sqlite_apps, cid):
        tg.send_text(chat_id=4208, user_id=4208, text="write a lot")
        def all_words(sent: list[Sent]) -> list[Sent] | None:
            parts = [x for x in sent if x.target == "4208" and x.kind == "sendMessage"]
            return parts if sum(p.text.count("word") for p in parts) >= 2000 else None

        parts = await tg.await_for(all_words)
    assert len(parts) >= 2 and all(len(p.text) <= 4096 for p in parts)
    assert all(p.data["parse_mode"] == "HTML" for p in parts)
    assert parts[0].text.startswith("<b>Title</b> with &lt;script&gt;x&lt;/script&gt; &amp; <code>a&lt;b</code>")
    assert sum(p.text.count("word") for p in parts) == 2000


async def test_platform_down_shows_in_status_and_others_keep_working(
    sqlite_apps: Apps, telegram_fake: TelegramFake, alpha_llm: FakeServer, beta_llm: FakeServer
) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    down_cfg = {"botToken": "999:DOWN-bot-token-secret", "apiBaseUrl": f"http://127.0.0.1:{free_port()}"}
    bad_cfg = {"botToken": "999:WRONG-token-secret", "apiBaseUrl": tg.url}
    ok_cfg = tg_config(tg)
    down = await client(sqlite_apps, "telegram", down_cfg, [s.alpha], "down")
    bad = await client(sqlite_apps, "telegram", bad_cfg, [s.alpha], "bad token")
    ok = await client(sqlite_apps, "telegram", ok_cfg, [s.alpha], "ok")
    async with (
        running(sqlite_apps, down) as down_ctx,
        running(sqlite_apps, bad) as bad_ctx,
        running(sqlite_apps, ok) as ok_ctx,
    ):
        await until(lambda: down_ctx.status.last_error and bad_ctx.status.last_error)
        tg.send_text(chat_id=4209, user_id=4209, text="still there?")
        [reply] = await tg.await_sent(4209, "sendMessage")
        assert reply.text == "alpha says: still there?" and ok_ctx.status.is_connected
        # what an operator sees in the Admin API (and the UI)
        down_view, ok_view = await admin_status(sqlite_apps, down), await admin_status(sqlite_apps, ok)
        assert down_view["connected"] is False and down_view["lastError"] and down_view["restarts"] >= 1
        assert "DOWN-bot-token-secret" not in str(down_view)
        assert ok_view["connected"] is True and ok_view["identity"] == "@magec_test_bot"
        assert ok_view["lastMessageAt"] and ok_view["lastError"] is None
    assert not down_ctx.status.is_connected and not bad_ctx.status.is_connected
    assert "DOWN-bot-token-secret" not in str(down_ctx.status.view())
    assert "rejected" in str(bad_ctx.status.last_error)  # the Bot API's 401
    assert "WRONG-token-secret" not in str(bad_ctx.status.view())


async def test_outage_mid_run_shows_then_recovers(sqlite_apps: Apps, telegram_fake: TelegramFake,
                                                  alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = tg_config(tg)
    cid = await client(sqlite_apps, "telegram", cfg, [s.alpha])
    async with running(sqlite_apps, cid) as ctx:
        await until(lambda: ctx.status.is_connected)
        tg.outage = True
        await until(lambda: not ctx.status.is_connected)
        assert "Bad Gateway" in str(ctx.status.last_error) and tg.token not in str(ctx.status.view())
        tg.outage = False
        await until(lambda: ctx.status.is_connected)
        tg.send_text(chat_id=4210, user_id=4210, text="are you back")
        [reply] = await tg.await_sent(4210, "sendMessage")
        assert reply.text == "alpha says: are you back"


async def test_forum_topics_are_separate_conversations(sqlite_apps: Apps, telegram_fake: TelegramFake,
                                                       alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = tg_config(tg, allowedChatThreads=[{"chatId": -100900, "threadId": 5}])
    cid = await client(sqlite_apps, "telegram", cfg, [s.alpha, s.beta])
    async with running(sqlite_apps, cid):
        tg.send_text(chat_id=-100900, user_id=81, text="/agent Beta", chat_type="supergroup", thread_id=5)
        tg.send_text(chat_id=-100900, user_id=81, text="topic five", chat_type="supergroup", thread_id=5)
        tg.send_text(chat_id=-100900, user_id=81, text="topic six", chat_type="supergroup", thread_id=6)
        tg.send_text(chat_id=-100900, user_id=81, text="/start", chat_type="supergroup", thread_id=5)
        msgs = await tg.await_sent(-100900, "sendMessage", count=3)
    assert "Switched to <b>Beta</b>" in msgs[0].text
    assert msgs[1].text == "beta says: topic five" and msgs[1].data["message_thread_id"] == 5
    assert "Beta" in msgs[2].text  # /start names the topic's agent
    assert all("topic six" not in m.text for m in tg.sent_to(-100900))  # topic 6 is not allowed


async def test_flood_control_is_waited_out(sqlite_apps: Apps, telegram_fake: TelegramFake, alpha_llm: FakeServer,
                                           beta_llm: FakeServer) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = tg_config(tg)
    cid = await client(sqlite_apps, "telegram", cfg, [s.alpha])
    tg.flood(1, retry_after=1)
    async with running(sqlite_apps, cid):
        tg.send_text(chat_id=4211, user_id=4211, text="slowly")
        [reply] = await tg.await_sent(4211, "sendMessage")
    assert reply.text == "alpha says: slowly" and tg.flooded == 1


async def test_voice_mode_without_tts_answers_with_text(sqlite_apps: Apps, telegram_fake: TelegramFake,
                                                        alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = tg_config(tg, responseMode="voice")
    cid = await client(sqlite_apps, "telegram", cfg, [s.beta])  # Beta has no TTS (and no STT)
    async with running(sqlite_apps, cid):
        tg.send_text(chat_id=4212, user_id=4212, text="speak up")
        [reply] = await tg.await_sent(4212, "sendMessage")
        assert reply.text == "beta says: speak up"
        tg.send_voice(chat_id=4212, user_id=4212, audio=voice_note("hello"))
        [_, err] = await tg.await_sent(4212, "sendMessage", count=2)
        assert err.text.startswith("⚠️")  # no STT: the user is told, nothing crashes
        # ...which agent cannot hear, and what to do (it said "transcription not configured for
        # this agent": which one, in a chat that can /agent between several?)
        assert "Beta cannot take voice notes" in err.text and "speech-to-text" in err.text, err.text
        assert "Send text" in err.text, err.text
        # asking for spoken answers from an agent that cannot speak says so (it said only "set")
        tg.send_text(chat_id=4212, user_id=4212, text="/responsemode both")
        ack = (await tg.await_sent(4212, "sendMessage", count=3))[2]
        assert "Response mode set to" in ack.text, ack.text
        assert "Beta has no text-to-speech (TTS) backend, so its answers stay text" in ack.text, ack.text
    assert tg.sent_to(4212, "sendVoice") == [] and tg.sent_to(4212, "sendAudio") == []


async def test_an_update_the_library_cannot_parse_is_skipped(sqlite_apps: Apps, telegram_fake: TelegramFake,
                                                             alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    # python-telegram-bot refuses the whole getUpdates batch when one update does not parse (a
    # shape newer than the library, a field Telegram left out): that update must be skipped, not
    # crash the poller on every restart while it stays unconfirmed (the bot would be dead for good)
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cid = await client(sqlite_apps, "telegram", tg_config(tg), [s.alpha])
    async with running(sqlite_apps, cid) as ctx:
        await until(lambda: ctx.status.is_connected)
        tg.send_update({"message": {"message_id": 1, "date": 0, "chat": {"id": 4213}}})  # no chat type
        tg.send_text(chat_id=4213, user_id=4213, text="still listening?")
        [reply] = await tg.await_sent(4213, "sendMessage")
        assert reply.text == "alpha says: still listening?"
        assert ctx.status.is_connected and ctx.status.restarts == 0


async def test_voice_over_the_upload_limit_is_not_downloaded(
    tmp_path: Path, telegram_fake: TelegramFake, alpha_llm: FakeServer, beta_llm: FakeServer
) -> None:
    # a local Bot API server hands out files up to 2 GB: limits.uploadBytes applies before fetching
    tg = telegram_fake
    async with running_apps(tmp_path / "data", config={"upload_limit_bytes": 64 * 1024}) as apps:
        s = await agents(apps, alpha_llm.url, beta_llm.url)
        cid = await client(apps, "telegram", tg_config(tg), [s.alpha])
        async with running(apps, cid):
            tg.send_voice(chat_id=4214, user_id=4214, audio=b"OggS" + b"\xff" * 300_000)
            [reply] = await tg.await_sent(4214, "sendMessage")
    assert not [path for _, path in tg.calls if path.startswith("/file/")]  # never downloaded
    assert reply.text == "⚠️ the audio file is larger than the 64 KB limit"
    assert requests_to(alpha_llm, "stt") == []


async def test_a_voice_note_of_undeclared_size_is_cut_off_at_the_limit(
    tmp_path: Path, telegram_fake: TelegramFake, alpha_llm: FakeServer, beta_llm: FakeServer
) -> None:
    """``file_size`` is optional in the Bot API: a voice note that declares none (nor does getFile)
    was downloaded whole, whatever its size, into memory. The download itself stops at the limit;
    a small one without a size still reaches the agent."""
    tg = telegram_fake
    async with running_apps(tmp_path / "data", config={"upload_limit_bytes": 64 * 1024}) as apps:
        s = await agents(apps, alpha_llm.url, beta_llm.url)
        cid = await client(apps, "telegram", tg_config(tg), [s.alpha])
        async with running(apps, cid):
            endless = tg.send_voice(chat_id=4216, user_id=4216, audio=b"OggS" + b"\xff" * 16_380,
                                    sized=False, endless=True)
            [reply] = await tg.await_sent(4216, "sendMessage")
            assert reply.text == "⚠️ the audio file is larger than the 64 KB limit"
            assert requests_to(alpha_llm, "stt") == []
            alpha_llm.script(Reply(text="short and sweet"), route="stt")
            note = voice_note("short and sweet")
            assert len(note) < 64 * 1024
            tg.send_voice(chat_id=4216, user_id=4216, audio=note, sized=False)
            [_, answer] = await tg.await_sent(4216, "sendMessage", count=2)
    assert answer.text == "alpha says: short and sweet"
    assert requests_to(alpha_llm, "stt")[-1].files["file"][2] == note
    # the endless file was read no further than the limit and what was in flight (socket buffers)
    [read] = [n for file_id, n in tg.served.items() if file_id in tg.endless]
    assert endless and 64 * 1024 <= read < 16 * 1024 * 1024, tg.served


async def test_a_message_being_answered_at_shutdown_is_answered(tmp_path: Path, telegram_fake: TelegramFake,
                                                               alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    """Telegram was told the update arrived (it will not send it again): a worker stopping while it
    answers gets ``server.shutdownGrace`` to finish, with the backends still open (its answer was
    cancelled, and the user never got one)."""
    tg = telegram_fake
    async with running_apps(tmp_path / "d", config={"shutdown_grace": 10}) as apps:
        s = await agents(apps, alpha_llm.url, beta_llm.url)
        cid = await client(apps, "telegram", tg_config(tg), [s.alpha])
        async with running(apps, cid):
            before = len(requests_to(alpha_llm, "chat"))
            alpha_llm.script(Reply(text="answered while stopping", delay=2))
            tg.send_text(chat_id=4299, user_id=4299, text="slow one")
            await until(lambda: len(requests_to(alpha_llm, "chat")) > before)  # the turn reached its provider
    # the app has stopped: the answer went out before it did
    [reply] = await tg.await_sent(4299, "sendMessage", timeout=1)
    assert reply.text == "answered while stopping"


async def test_links_reach_telegram_as_links_next_to_a_line_of_brackets(
    sqlite_apps: Apps, telegram_fake: TelegramFake, alpha_llm: FakeServer, beta_llm: FakeServer
) -> None:
    """A client can make an agent echo anything: a chunk of ``[a`` (4 KB, no link in it) is sent as
    text, and the links after it — one with a balanced ``(…)`` in its URL — as links."""
    tg = telegram_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cid = await client(sqlite_apps, "telegram", tg_config(tg), [s.alpha])
    answer = "[a" * 2000 + "\n\n[Foo](https://en.wikipedia.org/wiki/Foo_(bar)) and [docs](https://d.example/?q=1)"
    alpha_llm.script(Reply(text=answer))
    async with running(sqlite_apps, cid):
        tg.send_text(chat_id=4209, user_id=4209, text="echo")

        def with_links(sent: list[Sent]) -> list[Sent] | None:
            parts = [x for x in sent if x.target == "4209" and x.kind == "sendMessage"]
            return parts if any("docs" in p.text for p in parts) else None

        parts = await tg.await_for(with_links)
    assert parts[0].text == "[a" * 2000  # split from the links at the paragraph
    assert parts[-1].text.endswith('<a href="https://en.wikipedia.org/wiki/Foo_(bar)">Foo</a> and '
                         '<a href="https://d.example/?q=1">docs</a>')


async def test_voice_notes_count_against_the_clients_run_limit(tmp_path: Path, telegram_fake: TelegramFake,
                                                              alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    """``limits.maxRunsPerClient`` bounds a bot's provider work, its users' voice notes included:
    their transcriptions ran unadmitted, so while one chat's note was being transcribed any other
    chat's went to the provider too, past the client's limit."""
    tg = telegram_fake
    async with running_apps(tmp_path / "d", config={"max_runs_per_client": 1}) as apps:
        s = await agents(apps, alpha_llm.url, beta_llm.url)
        cid = await client(apps, "telegram", tg_config(tg), [s.alpha])
        alpha_llm.script(Reply(text="slow words", delay=3), route="stt")  # the first note takes a while
        async with running(apps, cid):
            tg.send_voice(chat_id=4301, user_id=4301, audio=voice_note("first"))
            await until(lambda: len(requests_to(alpha_llm, "stt")) == 1)  # its transcription is running
            tg.send_voice(chat_id=4302, user_id=4302, audio=voice_note("second"))
            [busy] = await tg.await_sent(4302, "sendMessage")
            assert len(requests_to(alpha_llm, "stt")) == 1, "the second note went to the provider too"
            [first] = await tg.await_sent(4301, "sendMessage")
        assert first.text == "alpha says: slow words"
        assert "alpha says" not in busy.text, busy.text  # refused: the client's limit, said to the user
