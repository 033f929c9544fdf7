"""The token relay (magec.backends.relay): an agent's streamed tokens reach clients without one ADK
event per token. Tokens that arrive together go out together; paced tokens go out one by one;
the stored session and the final answer are unchanged; flows keep per-step partial events."""

from __future__ import annotations

import json
from typing import Any

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.runtime.test_openai_compat import sdk
from tests.runtime.test_run_api import make_agent

U = "/api/v1/agent"
WORDS = [f"w{i} " for i in range(120)]
TEXT = "".join(WORDS)


async def _v1_chunks(apps: Apps, aid: str) -> list[dict[str, Any]]:
    chunks = []
    body = {"model": aid, "stream": True, "messages": [{"role": "user", "content": "go"}]}
    async with apps.user.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data: {"):
                chunks.append(json.loads(line[6:]))
    return chunks


async def _sse_events(apps: Apps, aid: str, sid: str) -> list[dict[str, Any]]:
    body = {"appName": aid, "userId": "u", "sessionId": sid, "streaming": True,
            "newMessage": {"parts": [{"text": "go"}]}}
    events = []
    async with apps.user.stream("POST", f"{U}/run_sse", json=body) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


async def test_tokens_that_arrive_together_go_out_together(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    openai_x.script(Reply(chunks=WORDS, burst=True))
    chunks = await _v1_chunks(apps, aid)
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    streamed = [t for t in contents if t]
    assert "".join(streamed) == TEXT
    # 120 tokens read in one network read leave as a few chunks, not 120 (no per-token event)
    assert len(streamed) <= 3, len(streamed)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"

    openai_x.script(Reply(chunks=WORDS, burst=True))
    events = await _sse_events(apps, aid, "burst")
    partials = [e for e in events if e.get("partial")]
    finals = [e for e in events if not e.get("partial")]
    assert 1 <= len(partials) <= 3, len(partials)
    assert "".join(p["content"]["parts"][0]["text"] for p in partials) == TEXT
    assert [p["text"] for f in finals for p in f["content"]["parts"]] == [TEXT]
    # the relayed partials wear ADK's shape: the turn's invocation, the agent as author
    for p in partials:
        assert p["invocationId"] == finals[-1]["invocationId"] and p["invocationId"]
        assert p["author"] == aid and p["authorName"] == "Helper" and p["content"]["role"] == "model"
    # only the final answer is stored, exactly as before
    stored = (await apps.user.get(f"{U}/apps/{aid}/users/u/sessions/burst")).json()["events"]
    assert [e["content"]["parts"][0]["text"] for e in stored if e["author"] != "user"] == [TEXT]
    assert not any(e.get("partial") for e in stored)


async def test_paced_tokens_reach_the_client_one_by_one(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    words = ["one ", "two ", "three ", "four"]
    openai_x.script(Reply(chunks=words, chunk_delay=0.1))
    client = sdk(apps)
    stream = await client.chat.completions.create(model=aid, messages=[{"role": "user", "content": "go"}], stream=True)
    got = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    # each token left when it arrived: the first delta is the first token, not the whole answer
    assert got[0] == "one " and "".join(got) == "one two three four" and len(got) >= 3


async def test_each_turn_of_a_session_relays_its_own_tokens(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    openai_x.script(Reply(chunks=["Let me ", "think. "], burst=True))
    events = await _sse_events(apps, aid, "two")
    partial_text = "".join(p["content"]["parts"][0]["text"] for p in events if p.get("partial"))
    assert partial_text == "Let me think. "
    # a second turn on the same session: the relay is per turn
    openai_x.script(Reply(chunks=["Again."], burst=True))
    events = await _sse_events(apps, aid, "two")
    assert "".join(p["content"]["parts"][0]["text"] for p in events if p.get("partial")) == "Again."


async def test_responses_api_streams_relayed_tokens(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    openai_x.script(Reply(chunks=WORDS, burst=True))
    kinds: list[str] = []
    deltas: list[str] = []
    async with apps.user.stream("POST", "/v1/responses", json={"model": aid, "input": "go", "stream": True}) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                data = json.loads(line[6:])
                kinds.append(data["type"])
                if data["type"] == "response.output_text.delta":
                    deltas.append(data["delta"])
                if data["type"] == "response.completed":
                    assert data["response"]["output"][0]["content"][0]["text"] == TEXT
    assert "".join(deltas) == TEXT and 1 <= len(deltas) <= 3, len(deltas)
    assert kinds.index("response.output_item.added") < kinds.index("response.output_text.delta")
    assert kinds[-1] == "response.completed"
    # paced tokens, through the official SDK: each delta left when it arrived
    openai_x.script(Reply(chunks=["one ", "two ", "three ", "four"], chunk_delay=0.1))
    stream = await sdk(apps).responses.create(model=aid, input="go", stream=True)
    got = [ev.delta async for ev in stream if ev.type == "response.output_text.delta"]
    assert got[0] == "one " and "".join(got) == "one two three four" and len(got) >= 3


def test_runs_of_tokens_of_one_kind_become_one_token_in_order() -> None:
    from magec.backends.relay import Token, merged

    batch = [Token("a"), Token("b"), Token("t", True), Token("u", True), "event", Token("c"), Token("d", True)]
    assert merged(batch) == [Token("ab"), Token("tu", True), "event", Token("c"), Token("d", True)]
    assert merged([]) == [] and merged(["event"]) == ["event"]
