"""The Slack bot against a loopback Slack (Web API + Socket Mode): mentions in threads, DMs, thread
history, audio files, commands, allow-lists and outages. Setup through the Admin API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_platforms import PlatformServer, SlackFake, voice_note
from magec.testing.fake_providers import FakeServer, Reply, fake_audio
from magec.testing.services import free_port
from tests.clients.bots.helpers import admin_status, agents, client, requests_to, running, until


def sl_config(sl: SlackFake, **extra: Any) -> dict[str, Any]:
    return {"botToken": sl.bot_token, "appToken": sl.app_token, "apiBaseUrl": sl.api_base, **extra}


async def test_mention_answered_in_thread_and_dm(sqlite_apps: Apps, slack_fake: SlackFake, alpha_llm: FakeServer,
                                                 beta_llm: FakeServer) -> None:
    sl = slack_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = sl_config(sl)
    cid = await client(sqlite_apps, "slack", cfg, [s.alpha, s.beta])
    async with running(sqlite_apps, cid) as ctx:
        await sl.await_connected()
        await until(lambda: ctx.status.is_connected)
        assert ctx.status.identity == "@magec"
        ts = sl.send_message("C100", "U1", "hello there", mention=True)
        [reply] = await sl.await_sent("C100", "chat.postMessage")
        assert reply.text == "alpha says: hello there" and reply.data["thread_ts"] == ts
        sl.send_message("D200", "U1", "in private", channel_type="im")
        [dm] = await sl.await_sent("D200", "chat.postMessage")
        assert dm.text == "alpha says: in private" and not dm.data.get("thread_ts")
        # plain channel chatter is not for the bot
        sl.send_message("C100", "U1", "not for you", channel_type="channel")
        sl.send_message("D200", "U1", "second", channel_type="im")
        await sl.await_sent("D200", "chat.postMessage", count=2)
    assert len(sl.acks) >= 4  # every envelope acked
    assert len(sl.sent_to("C100")) == 1


async def test_thread_history_limit_and_commands(sqlite_apps: Apps, slack_fake: SlackFake, alpha_llm: FakeServer,
                                                 beta_llm: FakeServer) -> None:
    sl = slack_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = sl_config(sl, threadHistoryLimit=3)
    cid = await client(sqlite_apps, "slack", cfg, [s.alpha, s.beta])
    root = sl.send_message("C101", "U2", "planning the offsite", deliver=False)
    sl.send_message("C101", "U3", "tenerife sounds good", thread_ts=root, deliver=False)
    sl.send_message("C101", "U4", "in march", thread_ts=root, deliver=False)
    async with running(sqlite_apps, cid):
        await sl.await_connected()
        sl.send_message("C101", "U2", "what did we decide?", mention=True, thread_ts=root)
        [answer] = await sl.await_sent("C101", "chat.postMessage")
        assert answer.data["thread_ts"] == root and answer.text.endswith("what did we decide?")
        prompt = str(requests_to(alpha_llm, "chat")[-1].json["messages"])
        # limit 3: the newest three messages, the current one counted (and not repeated as history)
        assert "MAGEC_THREAD_HISTORY" in prompt and "[U3]: tenerife sounds good" in prompt
        assert "in march" in prompt and "planning the offsite" not in prompt
        # !agent in the thread switches this thread only
        sl.send_message("C101", "U2", "!agent beta", mention=True, thread_ts=root)
        sl.send_message("C101", "U2", "and now?", mention=True, thread_ts=root)
        msgs = await sl.await_sent("C101", "chat.postMessage", count=3)
        assert "Switched to Beta" in msgs[1].text and msgs[2].text.startswith("beta says:")
        other = sl.send_message("C101", "U2", "new topic", mention=True)
        msgs = await sl.await_sent("C101", "chat.postMessage", count=4)
        assert msgs[3].text == "alpha says: new topic" and msgs[3].data["thread_ts"] == other


async def test_long_thread_gives_the_newest_messages(sqlite_apps: Apps, slack_fake: SlackFake,
                                                    alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    # conversations.replies pages a thread oldest first: the agent must get the recent end of a
    # long thread (what the question is about), not its first messages
    sl = slack_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cid = await client(sqlite_apps, "slack", sl_config(sl, threadHistoryLimit=4), [s.alpha])
    root = sl.send_message("C103", "U2", "kick-off", deliver=False)
    for i in range(1, 251):  # more than one page of replies
        sl.send_message("C103", f"U{i % 5 + 10}", f"reply number {i}", thread_ts=root, deliver=False)
    async with running(sqlite_apps, cid):
        await sl.await_connected()
        sl.send_message("C103", "U2", "so where are we?", mention=True, thread_ts=root)
        await sl.await_sent("C103", "chat.postMessage")
    prompt = str(requests_to(alpha_llm, "chat")[-1].json["messages"])
    history = prompt[prompt.index("MAGEC_THREAD_HISTORY:"):prompt.index(":MAGEC_THREAD_HISTORY")]
    # the newest four, the question counted: the last three replies, oldest first
    assert re.findall(r"reply number (\d+)", history) == ["248", "249", "250"]
    assert "kick-off" not in history and "so where are we?" not in history


async def test_another_bots_messages_are_not_the_assistants(sqlite_apps: Apps, slack_fake: SlackFake,
                                                            alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    # in a shared channel other apps' bots post too: only this bot's own answers are the
    # assistant's turns in the history, another bot speaks under its own name
    sl = slack_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cid = await client(sqlite_apps, "slack", sl_config(sl), [s.alpha])
    async with running(sqlite_apps, cid):
        await sl.await_connected()
        root = sl.send_message("C104", "U2", "deploy the site", mention=True)
        await sl.await_sent("C104", "chat.postMessage")
        sl.bot_posts("C104", root, "B0777", "Deploybot", "deploy failed: disk full")
        sl.send_message("C104", "U2", "what happened?", mention=True, thread_ts=root)
        await sl.await_sent("C104", "chat.postMessage", count=2)
    prompt = str(requests_to(alpha_llm, "chat")[-1].json["messages"])
    history = prompt[prompt.index("MAGEC_THREAD_HISTORY:"):prompt.index(":MAGEC_THREAD_HISTORY")]
    assert "[assistant]: alpha says: deploy the site" in history
    assert "[Deploybot]: deploy failed: disk full" in history
    assert "[assistant]: deploy failed" not in history


async def test_audio_file_and_voice_answer(sqlite_apps: Apps, slack_fake: SlackFake, alpha_llm: FakeServer,
                                           beta_llm: FakeServer) -> None:
    sl = slack_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = sl_config(sl, responseMode="mirror")
    cid = await client(sqlite_apps, "slack", cfg, [s.alpha])
    note = voice_note("book a room")
    alpha_llm.script(Reply(text="book a room"), route="stt")
    async with running(sqlite_apps, cid):
        await sl.await_connected()
        sl.send_message("D201", "U5", "", channel_type="im", files=[("audio_message.ogg", "audio/ogg", note)])
        [upload] = await sl.await_sent("D201", "files.upload")
        name, _, audio = upload.files["file"]
        assert audio == fake_audio("alpha says: book a room") and name.startswith("answer.")
        assert requests_to(alpha_llm, "stt")[-1].files["file"][2] == note  # downloaded with the bot token
        sl.send_message("D201", "U5", "typed", channel_type="im")
        [text] = await sl.await_sent("D201", "chat.postMessage")
        assert text.text == "alpha says: typed"
    assert len(sl.sent_to("D201", "chat.postMessage")) == 1  # mirror: no text for the voice note


class FileHost(PlatformServer):
    """Another server a file object may name: records the headers of every download."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body
        self.headers: list[dict[str, str]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{path:.*}", self._get)

    async def _get(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        return web.Response(body=self.body, content_type="audio/ogg")


async def test_bot_token_goes_to_slack_file_hosts_only(sqlite_apps: Apps, slack_fake: SlackFake,
                                                       alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    # url_private is whatever the file object in the event says: a URL on another host must not
    # get "Authorization: Bearer <bot token>" (the file is skipped; the text is still answered)
    sl = slack_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cid = await client(sqlite_apps, "slack", sl_config(sl), [s.alpha])
    note = voice_note("transfer the funds")
    alpha_llm.script(Reply(text="transfer the funds"), route="stt")
    with FileHost(note) as other:
        async with running(sqlite_apps, cid):
            await sl.await_connected()
            # same host as apiBaseUrl, another port: not the configured API
            sl.send_message("D203", "U6", "hello", channel_type="im",
                            files=[("a.ogg", "audio/ogg", note)], file_url=f"{other.url}/files-pri/F1/a.ogg")
            [reply] = await sl.await_sent("D203", "chat.postMessage")
            # a file on the fake's own host and port (the configured apiBaseUrl) still works
            sl.send_message("D203", "U6", "", channel_type="im", files=[("b.ogg", "audio/ogg", note)])
            [_, spoken] = await sl.await_sent("D203", "chat.postMessage", count=2)
    assert all(sl.bot_token not in str(h) for h in other.headers)
    assert reply.text == "alpha says: hello"
    assert spoken.text == "alpha says: transfer the funds"
    assert len(requests_to(alpha_llm, "stt")) == 1


async def test_not_allowed_and_platform_down(sqlite_apps: Apps, slack_fake: SlackFake, alpha_llm: FakeServer,
                                             beta_llm: FakeServer) -> None:
    sl = slack_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    ok_cfg = sl_config(sl, allowedUsers=["U7"], allowedChannels=["C300"])
    down_cfg = {"botToken": "xoxb-down-secret-1", "appToken": "xapp-down-secret-2",
                "apiBaseUrl": f"http://127.0.0.1:{free_port()}/api"}
    bad_cfg = sl_config(sl, botToken="xoxb-wrong-secret-3")
    ok = await client(sqlite_apps, "slack", ok_cfg, [s.alpha], "ok")
    down = await client(sqlite_apps, "slack", down_cfg, [s.alpha], "down")
    bad = await client(sqlite_apps, "slack", bad_cfg, [s.alpha], "bad")
    async with (
        running(sqlite_apps, ok),
        running(sqlite_apps, down) as down_ctx,
        running(sqlite_apps, bad) as bad_ctx,
    ):
        await sl.await_connected()
        await until(lambda: down_ctx.status.last_error and bad_ctx.status.last_error)
        view = await admin_status(sqlite_apps, down)
        assert view["connected"] is False and view["lastError"] and "xoxb-down" not in str(view)
        sl.send_message("D301", "U8", "stranger", channel_type="im")
        sl.send_message("C300", "U8", "stranger in the allowed channel", mention=True)
        sl.send_message("D302", "U7", "friend", channel_type="im")
        await sl.await_sent("C300", "chat.postMessage")
        [reply] = await sl.await_sent("D302", "chat.postMessage")
        assert reply.text == "alpha says: friend"
    assert sl.sent_to("D301") == []
    assert not down_ctx.status.is_connected and "xoxb-down" not in str(down_ctx.status.view())
    assert "invalid_auth" in str(bad_ctx.status.last_error) and "xoxb-wrong" not in str(bad_ctx.status.view())


async def test_socket_drop_reconnects(sqlite_apps: Apps, slack_fake: SlackFake, alpha_llm: FakeServer,
                                      beta_llm: FakeServer) -> None:
    sl = slack_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cfg = sl_config(sl)
    cid = await client(sqlite_apps, "slack", cfg, [s.alpha])
    async with running(sqlite_apps, cid) as ctx:
        await sl.await_connected()
        await until(lambda: ctx.status.is_connected)
        before = sl.connections
        sl.drop()
        await sl.await_for(lambda _: sl.connections > before and sl.connected > 0)
        await until(lambda: ctx.status.is_connected)
        sl.send_message("D401", "U9", "after the blip", channel_type="im")
        [reply] = await sl.await_sent("D401", "chat.postMessage")
        assert reply.text == "alpha says: after the blip"


async def test_audio_file_over_the_upload_limit_is_not_downloaded(
    tmp_path: Path, slack_fake: SlackFake, alpha_llm: FakeServer, beta_llm: FakeServer
) -> None:
    # a Slack file may be 1 GB: read whole into memory before the STT's size check, a few of them
    # would exhaust the server's memory. limits.uploadBytes applies before a byte is fetched.
    sl = slack_fake
    async with running_apps(tmp_path / "data", config={"upload_limit_bytes": 64 * 1024}) as apps:
        s = await agents(apps, alpha_llm.url, beta_llm.url)
        cid = await client(apps, "slack", sl_config(sl), [s.alpha])
        async with running(apps, cid):
            await sl.await_connected()
            sl.send_message("D202", "U6", "", channel_type="im", files=[("huge.mp3", "audio/mpeg", b"\xff" * 300_000)])
            [reply] = await sl.await_sent("D202", "chat.postMessage")
    assert not [path for _, path in sl.calls if path.startswith("/files-pri/")]  # never downloaded
    assert reply.text == "⚠️ the audio file is larger than the 64 KB limit"
    assert requests_to(alpha_llm, "stt") == []


async def test_agent_text_cannot_notify_the_whole_channel(sqlite_apps: Apps, slack_fake: SlackFake,
                                                          alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    # Slack notifies every member for <!channel>, <!here>, <!everyone> and a user group for
    # <!subteam^…> in a posted text. An answer is text a user (or a page a tool read, or a thread
    # message of someone not allowed) can steer: it must not page a whole channel. (The Discord bot
    # sends allowed_mentions: {parse: []} for the same reason.)
    sl = slack_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cid = await client(sqlite_apps, "slack", sl_config(sl), [s.alpha])
    alpha_llm.script(Reply(text="<!channel> <!here|here> <!everyone> <!subteam^S123|@devs> all hands now"))
    async with running(sqlite_apps, cid):
        await sl.await_connected()
        sl.send_message("C102", "U7", "wake everybody up", mention=True)
        [reply] = await sl.await_sent("C102", "chat.postMessage")
        sl.send_message("C102", "U7", "!agent <!channel>", mention=True)  # a command echoes its argument
        [_, refused] = await sl.await_sent("C102", "chat.postMessage", count=2)
    assert "<!" not in reply.text and "all hands now" in reply.text
    assert "<!" not in refused.text and "Unknown agent" in refused.text
    assert f"Available: Alpha (`{s.alpha}`)" in refused.text  # by name: what the user can type instead


def users_info_calls(sl: SlackFake) -> int:
    return sum(1 for _, path in sl.calls if path == "/api/users.info")


async def test_a_busy_channel_asks_slack_for_each_users_name_once(sqlite_apps: Apps, slack_fake: SlackFake,
                                                                   alpha_llm: FakeServer, beta_llm: FakeServer) -> None:
    """Slack limits ``users.info`` (about 100 calls a minute per workspace). Thirty mentions from
    three users, all at once, cost three asks; the conversations carry each user's @handle."""
    sl = slack_fake
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cid = await client(sqlite_apps, "slack", sl_config(sl), [s.alpha])
    async with running(sqlite_apps, cid):
        await sl.await_connected()
        for i in range(30):
            sl.send_message("C300", f"U{i % 3}", f"question {i}", mention=True)
        await sl.await_sent("C300", "chat.postMessage", count=30)
    assert users_info_calls(sl) == 3
    r = await sqlite_apps.admin.get("/api/v1/admin/conversations", params={"clientId": cid, "limit": 100})
    assert r.status_code == 200, r.text
    body = r.json()
    rows = body if isinstance(body, list) else body.get("items") or body.get("conversations") or []
    assert {row.get("userName") for row in rows} == {"@u0", "@u1", "@u2"}, rows


@pytest.mark.parametrize("refusal", ["missing_scope", "ratelimited"])
async def test_a_workspace_refusal_of_users_info_pauses_the_asking(sqlite_apps: Apps, slack_fake: SlackFake,
                                                                    alpha_llm: FakeServer, beta_llm: FakeServer,
                                                                    refusal: str) -> None:
    """An app installed without the ``users:read`` scope (or rate limited by Slack) was asked again
    on every message: each turn cost a refused ``users.info``, which only deepens a rate limit.
    One refusal pauses the asking for the whole workspace; every message is still answered, under
    the user's id alone."""
    sl = slack_fake
    if refusal == "missing_scope":
        sl.scopes.discard("users:read")
    else:
        sl.rate_limited["users.info"] = 30
    s = await agents(sqlite_apps, alpha_llm.url, beta_llm.url)
    cid = await client(sqlite_apps, "slack", sl_config(sl), [s.alpha])
    async with running(sqlite_apps, cid):
        await sl.await_connected()
        sl.send_message("C301", "U1", "first", mention=True)
        await sl.await_sent("C301", "chat.postMessage")
        for i in range(12):
            sl.send_message("C301", f"U{i % 4}", f"question {i}", mention=True)
        replies = await sl.await_sent("C301", "chat.postMessage", count=13)
    assert all(reply.text.startswith("alpha says:") for reply in replies), [r.text for r in replies]
    assert users_info_calls(sl) == 1
