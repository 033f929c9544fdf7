"""Every turn on the HTTP surfaces is recorded with the right attribution (run, run_sse, the
playground, /v1 chat and responses, the Voice UI's source), with the backend and model that
answered (a fallback too), tokens, latency, tool calls, errors, a flow's inner steps, and secrets
redacted; a turn is recorded when the audit is on and not when ``settings.conversations`` is off."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from magec.server import user_app
from magec.testing.apps import Apps, running_apps, serving
from magec.testing.fake_providers import AnthropicFake, FakeServer, OpenAIFake, Reply
from tests.audit.helpers import A, agent, backend, conversations, detail, only, run, run_sse, turns
from tests.backends.test_fallback import closed_port_url


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("auditllm")) as s:
        yield s


@pytest.fixture
async def apps(tmp_path: Path) -> AsyncIterator[Apps]:
    async with running_apps(tmp_path / "data") as a:
        yield a


async def test_run_and_run_sse_turns_are_recorded_with_attribution(apps: Apps, llm: FakeServer) -> None:
    bid = await backend(apps, llm.url)
    aid = await agent(apps, bid, "Helper", model="gpt-audit")
    events = await run(apps, aid, "hello RUN-1")
    assert "auditllm says: hello RUN-1" in str(events)
    await run_sse(apps, aid, "hello SSE-1", session="s-sse")
    await run_sse(apps, aid, "from the voice ui", session="s-voice", query="?source=voice-ui")
    await run_sse(apps, aid, "spoken to the voice ui", session="s-voice", query="?source=voice-ui&voice=1")

    listed = await conversations(apps, perspective="user")
    assert listed["total"] == 3
    by_session = {c["sessionId"]: c for c in listed["items"]}
    run_conv = by_session["s1"]
    assert run_conv["agentId"] == aid and run_conv["agentName"] == "Helper"
    assert run_conv["source"] == "direct" and run_conv["surface"] == "run" and run_conv["userId"] == "u1"
    assert run_conv["preview"] == "hello RUN-1" and run_conv["turns"] == 1
    assert run_conv["inputTokens"] == 3 and run_conv["outputTokens"] == 5  # the fake's usage
    assert by_session["s-sse"]["surface"] == "run_sse"
    assert by_session["s-voice"]["source"] == "voice-ui" and by_session["s-voice"]["turns"] == 2
    assert [t["voice"] for t in await turns(apps, agentId=aid, q="voice ui")] == [False, True]

    [t] = await turns(apps, agentId=aid, q="RUN-1")
    assert t["backend"] == bid and t["model"] == "gpt-audit" and t["fallback"] == 0
    assert t["userMessage"] == "hello RUN-1" and t["answer"] == "auditllm says: hello RUN-1"
    assert t["latencyMs"] > 0 and t["errorCode"] == "" and t["surface"] == "run"

    # a second turn in the same session is the same conversation
    await run(apps, aid, "again RUN-2")
    conv = await only(apps, q="RUN-2")
    assert conv["id"] == run_conv["id"] and conv["turns"] == 2


async def test_openai_surfaces_and_playground(apps: Apps, llm: FakeServer) -> None:
    bid = await backend(apps, llm.url)
    aid = await agent(apps, bid, "Oai")
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": [{"role": "user", "content": "CHAT-1"}]})
    assert r.status_code == 200, r.text
    r = await apps.user.post("/v1/responses", json={"model": aid, "input": "RESP-1"})
    assert r.status_code == 200, r.text
    r = await apps.admin.post(f"{A}/agent/run", json={"appName": aid, "userId": "admin", "sessionId": "pg",
                                                      "newMessage": {"role": "user", "parts": [{"text": "PG-1"}]}})
    assert r.status_code == 200, r.text
    assert [t["surface"] for t in await turns(apps, q="CHAT-1")] == ["chat.completions"]
    assert [t["surface"] for t in await turns(apps, q="RESP-1")] == ["responses"]
    [pg] = await turns(apps, q="PG-1")
    assert pg["surface"] == "playground" and pg["source"] == "playground"

    # a client tool call the model made is in the turn (and in the admin view)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}}}}]
    r = await apps.user.post("/v1/chat/completions", json={
        "model": aid, "tools": tools, "messages": [{"role": "user", "content": 'TOOL-1 call get_weather {"city": "Vigo"}'}]})
    assert r.status_code == 200, r.text
    [t] = await turns(apps, q="TOOL-1")
    assert t["toolCalls"] == 1
    calls = [c for s in t["steps"] for c in s.get("toolCalls", [])]
    assert calls[0]["name"] == "get_weather" and calls[0]["args"] == {"city": "Vigo"}


async def test_fallback_answer_is_attributed_to_the_fallback(apps: Apps) -> None:
    with FakeServer(AnthropicFake("claude")) as fb:
        dead = await backend(apps, closed_port_url())
        fid = await backend(apps, fb.url, "anthropic")
        aid = await agent(apps, dead, "Resilient", model="m-dead",
                          llm={"backend": dead, "model": "m-dead", "fallbacks": [{"backend": fid, "model": "claude-x"}]})
        fb.script("from the fallback")
        await run(apps, aid, "FB-1")
    [t] = await turns(apps, q="FB-1")
    assert t["backend"] == fid and t["model"] == "claude-x" and t["fallback"] == 1
    assert t["answer"] == "from the fallback"
    step = next(s for s in t["steps"] if s.get("backend"))
    assert step["fallback"]["index"] == 1 and step["fallback"]["backend"] == fid
    stats = (await apps.admin.get(f"{A}/conversations/stats")).json()
    assert stats["fallbacks"] == 1 and stats["byBackends"] == {fid: 1}


async def test_failed_turn_records_the_error(apps: Apps, llm: FakeServer) -> None:
    bid = await backend(apps, llm.url)
    aid = await agent(apps, bid, "Fails")
    llm.script(Reply.fail(400, "the model refused"))
    events = await run(apps, aid, "ERR-1")
    assert events[-1].get("errorCode")
    [t] = await turns(apps, q="ERR-1")
    assert t["errorCode"] == events[-1]["errorCode"] and t["answer"] == ""
    conv = await only(apps, q="ERR-1")
    assert conv["errors"] == 1
    user_view = (await detail(apps, conv["id"]))["conversation"]["messages"]
    assert user_view[-1]["role"] == "assistant" and user_view[-1]["metadata"]["errorCode"] == t["errorCode"]



async def test_a_turn_its_client_left_is_recorded_as_cancelled(apps: Apps, llm: FakeServer) -> None:
    """A client that hangs up mid-stream: the admin sees that the turn was cancelled, not a
    question nobody answered (nor an error of the agent's)."""
    bid = await backend(apps, llm.url)
    aid = await agent(apps, bid, "Slow")
    llm.script(Reply(chunks=[f"w{i} " for i in range(10)], chunk_delay=2.0))  # a 20 s answer
    body = {"appName": aid, "userId": "u1", "sessionId": "s-left", "streaming": True,
            "newMessage": {"role": "user", "parts": [{"text": "LEFT-1"}]}}
    async with serving(user_app(apps.ctx)) as url, httpx.AsyncClient(base_url=url, timeout=30) as user:
        async with user.stream("POST", "/api/v1/agent/run_sse", json=body) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if '"w0 "' in line:
                    break  # the first words are here: hang up
    found: list[dict[str, object]] = []
    for _ in range(200):  # what the admin sees, until the turn is listed (written off the turn's path)
        found = await turns(apps, q="LEFT-1")
        if found:
            break
        await asyncio.sleep(0.05)
    [t] = found
    assert t["errorCode"] == "cancelled" and "left" in str(t["errorMessage"]), t
    conv = await only(apps, q="LEFT-1")
    user_view = (await detail(apps, conv["id"]))["conversation"]["messages"]
    assert user_view[-1]["role"] == "assistant" and user_view[-1]["metadata"]["errorCode"] == "cancelled"

async def test_a_hang_up_keeps_the_words_read_and_is_not_an_error(apps: Apps, llm: FakeServer) -> None:
    """A user closes the tab mid-answer and comes back: the words streamed before the hang-up are
    in the session (ADK's ``interrupted`` event), the next turn's model sees them, and the hang-up
    is counted as ``cancelled``, not as an error of the agent's (the stats and the list)."""
    bid = await backend(apps, llm.url)
    aid = await agent(apps, bid, "Slow")
    llm.script(Reply(chunks=["Once ", "upon ", "a ", "time "] + [f"w{i} " for i in range(10)], chunk_delay=0.5))
    body = {"appName": aid, "userId": "u1", "sessionId": "s-cut", "streaming": True,
            "newMessage": {"role": "user", "parts": [{"text": "CUT-1 tell me a story"}]}}
    read = ""
    async with serving(user_app(apps.ctx)) as url, httpx.AsyncClient(base_url=url, timeout=30) as user:
        async with user.stream("POST", "/api/v1/agent/run_sse", json=body) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    read += "".join(p.get("text", "") for p in (json.loads(line[6:]).get("content") or {}).get("parts", []))
                if "time" in read:
                    break  # a few words in: the tab is closed
        session = f"/api/v1/agent/apps/{aid}/users/u1/sessions/s-cut"
        kept: list[dict[str, object]] = []
        for _ in range(200):  # the session as the client reads it, until the cut answer is there
            events = (await user.get(session)).json()["events"]
            kept = [e for e in events if e.get("interrupted")]
            if kept:
                break
            await asyncio.sleep(0.05)
        [cut] = kept
        assert cut["author"] != "user" and events[-1] is cut
        text = "".join(p.get("text", "") for p in cut["content"]["parts"])  # type: ignore[index, union-attr]
        assert text.startswith("Once upon a time") and "w9" not in text, text
        # the conversation goes on from there: the model is shown what it had said
        llm.script("the end")
        r2 = await user.post("/api/v1/agent/run", json={**body, "streaming": False,
                                                        "newMessage": {"role": "user", "parts": [{"text": "go on"}]}})
        assert r2.status_code == 200, r2.text
        assert "Once upon a time" in json.dumps(llm.requests[-1].json)
    found: list[dict[str, object]] = []
    for _ in range(200):  # what the admin sees, until both turns are listed
        found = await turns(apps, agentId=aid)
        if len(found) == 2:
            break
        await asyncio.sleep(0.05)
    first = next(t for t in found if "CUT-1" in str(t["userMessage"]))
    assert first["errorCode"] == "cancelled" and str(first["answer"]).startswith("Once upon a time"), first
    stats = (await apps.admin.get(f"{A}/conversations/stats", params={"agentId": aid})).json()
    assert stats["errors"] == 0 and stats["cancelled"] == 1 and stats["turns"] == 2, stats
    conv = await only(apps, agentId=aid)
    assert conv["errors"] == 0 and conv["cancelled"] == 1, conv


async def test_flow_inner_steps_only_in_the_admin_view(apps: Apps, llm: FakeServer) -> None:
    bid = await backend(apps, llm.url)
    first = await agent(apps, bid, "Researcher")
    second = await agent(apps, bid, "Writer")
    r = await apps.admin.post(f"{A}/flows", json={"name": "Pipeline", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": first}, {"type": "agent", "agentId": second, "responseAgent": True}]}})
    assert r.status_code in (200, 201), r.text
    fid = r.json()["id"]
    await run(apps, fid, "FLOW-1")
    conv = await only(apps, agentId=fid)
    assert conv["flowId"] == fid and conv["flowName"] == "Pipeline"
    # filtering by an inner agent finds the flow's conversation too
    assert (await only(apps, agentId=first))["id"] == conv["id"]

    user = (await detail(apps, conv["id"]))["conversation"]
    assert [m["role"] for m in user["messages"]] == ["user", "assistant"]
    assert user["messages"][1]["agent"] == "Writer" and "rawEvents" not in user
    admin = (await detail(apps, conv["id"], view="admin"))["conversation"]
    assert admin["perspective"] == "admin"
    authors = [m["agent"] for m in admin["messages"] if m["role"] == "assistant"]
    assert authors == ["Researcher", "Writer"]
    hidden = [m for m in admin["messages"] if m["role"] == "assistant" and not m["metadata"]["visible"]]
    assert [m["agent"] for m in hidden] == ["Researcher"]
    assert all(m["metadata"]["backend"] == bid for m in admin["messages"] if m["role"] == "assistant")
    assert admin["messages"][0]["metadata"]["inputTokens"] == 6  # both model calls
    assert len(admin["rawEvents"]) == 2
    # the pair: the admin id leads back to the user id
    pair = (await apps.admin.get(f"{A}/conversations/{conv['id']}/pair")).json()["pairId"]
    assert pair == admin["id"] != conv["id"]
    assert (await apps.admin.get(f"{A}/conversations/{pair}/pair")).json()["pairId"] == conv["id"]
    assert (await detail(apps, pair))["conversation"]["perspective"] == "admin"


async def test_secret_values_are_redacted(apps: Apps, llm: FakeServer) -> None:
    r = await apps.admin.post(f"{A}/secrets", json={"name": "Vault", "key": "VAULT_TOKEN", "value": "s3cr3t-vault-value"})
    assert r.status_code in (200, 201), r.text
    bid = await backend(apps, llm.url)
    aid = await agent(apps, bid, "Leaky")
    await run(apps, aid, "SECRET-1 my token is s3cr3t-vault-value")
    [t] = await turns(apps, q="SECRET-1")
    assert "s3cr3t-vault-value" not in str(t)
    assert t["userMessage"] == "SECRET-1 my token is ***"
    assert "s3cr3t" not in (await apps.admin.get(f"{A}/conversations/export", params={"format": "csv"})).text


async def test_disabled_in_settings_records_nothing(apps: Apps, llm: FakeServer) -> None:
    bid = await backend(apps, llm.url)
    aid = await agent(apps, bid, "Quiet")
    r = await apps.admin.put(f"{A}/settings", json={"conversations": {"enabled": False}})
    assert r.status_code == 200, r.text
    assert r.json()["conversations"] == {"enabled": False, "retentionDays": 0, "maxTurns": 0}
    await run(apps, aid, "OFF-1")
    assert (await conversations(apps))["total"] == 0
    r = await apps.admin.put(f"{A}/settings", json={"conversations": {"enabled": True}})
    await run(apps, aid, "ON-1")
    assert (await conversations(apps, perspective="user"))["total"] == 1

