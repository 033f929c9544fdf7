"""The conversation gateway (the seam bots, webhooks and cron use): a turn per inbound message with
the user API's rules — allowed agents, sessions owned by <clientId>:<user>, history per
conversation, the agent choice kept across restarts, voice in and out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from magec.clients.conversation import Conversations, Inbound
from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, fake_audio
from tests.clients.helpers import agent, backend, client


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("fake")) as s:
        yield s


async def test_turns_history_agent_choice_and_reset(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        bid = await backend(apps, llm.url)
        a1 = await agent(apps, bid, "First")
        a2 = await agent(apps, bid, "Second")
        other = await agent(apps, bid, "Not allowed")
        c = await client(apps, "telegram", [a1, a2], {"telegram": {"botToken": "123:abc"}})
        conv = Conversations(apps.ctx)

        out = await conv.ask(c["id"], Inbound("chat-1", "42", "hello there"))
        assert out.error_code is None, out
        assert out.text == "fake says: hello there" and out.agent_id == a1 and out.agent_name == "First"
        await conv.ask(c["id"], Inbound("chat-1", "42", "second message"))
        # history: the second turn's request carried the first exchange
        msgs = llm.requests[-1].json["messages"]
        assert any("hello there" in str(m.get("content")) for m in msgs)

        # the session is the client's: owner "<clientId>:42", id = the conversation key
        rt = await apps.ctx.runtime.fresh()  # type: ignore[union-attr]
        s = await rt.session_service.get_session(app_name=a1, user_id=f"{c['id']}:42", session_id="chat-1")
        assert s is not None and len(s.events) >= 4

        assert await conv.agents(c["id"]) == [(a1, "First"), (a2, "Second")]
        assert await conv.current_agent(c["id"], "chat-1") == a1
        assert await conv.set_agent(c["id"], "chat-1", "Second") == a2
        out = await conv.ask(c["id"], Inbound("chat-1", "42", "to the second"))
        assert out.agent_id == a2
        assert await conv.current_agent(c["id"], "chat-2") == a1  # per conversation
        with pytest.raises(Exception) as err:
            await conv.set_agent(c["id"], "chat-1", other)
        assert getattr(err.value, "status_code", 0) == 403
        out = await conv.ask(c["id"], Inbound("chat-1", "42", "x", agent=other))
        assert out.error_code == "forbidden" and out.text == ""

        await conv.reset(c["id"], "chat-1", "42")
        llm.clear()
        out = await conv.ask(c["id"], Inbound("chat-1", "42", "fresh start"))
        assert out.session_id != "chat-1"
        assert not any("hello there" in str(m.get("content")) for m in llm.requests[-1].json["messages"])
        cid = c["id"]

    # the agent choice survives a restart (same database)
    async with running_apps(tmp_path / "data") as apps:
        assert await Conversations(apps.ctx).current_agent(cid, "chat-1") == a2


async def test_voice_in_and_out(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        bid = await backend(apps, llm.url)
        a = await agent(apps, bid, "Voice", transcription={"backend": bid}, tts={"backend": bid})
        plain = await agent(apps, bid, "Plain")
        c = await client(apps, "telegram", [a, plain], {"telegram": {"botToken": "123:abc"}})
        conv = Conversations(apps.ctx)
        assert await conv.has_voice(c["id"], None, "v") == (True, True)
        assert await conv.has_voice(c["id"], plain, "v") == (False, False)
        out = await conv.ask(c["id"], Inbound("v", "7", audio=fake_audio("what time is it"),
                                              audio_mime="audio/ogg", speech=True))
        assert out.error_code is None, out
        assert out.transcript == "what time is it"
        assert out.text == "fake says: what time is it"
        assert out.audio and out.audio_mime
        # no TTS on the agent: text only, no error
        out = await conv.ask(c["id"], Inbound("v", "7", "hi", agent=plain, speech=True))
        assert out.text == "fake says: hi" and out.audio is None and out.error_code is None


async def test_disabled_or_unknown_client_and_empty_allowed(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        bid = await backend(apps, llm.url)
        a = await agent(apps, bid)
        off = await client(apps, "telegram", [a], {"telegram": {"botToken": "1:x"}}, enabled=False)
        none = await client(apps, "telegram", [], {"telegram": {"botToken": "1:x"}})
        conv = Conversations(apps.ctx)
        assert (await conv.ask(off["id"], Inbound("c", "u", "hi"))).error_code == "unauthorized"
        assert (await conv.ask("nope", Inbound("c", "u", "hi"))).error_code == "not_found"
        assert (await conv.ask(none["id"], Inbound("c", "u", "hi"))).error_code == "forbidden"
