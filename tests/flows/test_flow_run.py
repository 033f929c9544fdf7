"""Flows end to end: mixed backends in order, parallel overlap, response filtering, data passing."""

from __future__ import annotations

import json
from typing import Any

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.flows.conftest import Arrivals
from tests.flows.helpers import U, agent, backend, flow, par, run, seq, step, texts


def dump(req: Any) -> str:
    return json.dumps(req.json)


async def test_three_backends_in_order_with_earlier_output(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                                           gem: FakeServer, arrivals: Arrivals) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "Drafter", systemPrompt="You draft.")
    b = await agent(apps, await backend(apps, claude, "anthropic"), "Critic", systemPrompt="You criticise.")
    c = await agent(apps, await backend(apps, gem, "gemini"), "Editor", systemPrompt="You edit.")
    fid = await flow(apps, "Mixed", seq(step(a), step(b), step(c, response=True)))
    events = await run(apps, fid, "write a haiku about tides")
    # each agent called its own backend exactly once, in flow order
    assert arrivals.names() == ["oai", "claude", "gem"]
    assert [sum(r.route == "chat" for r in s.requests) for s in (oai, claude, gem)] == [1, 1, 1]
    assert "You draft." in dump(oai.requests[-1]) and "write a haiku about tides" in dump(oai.requests[-1])
    assert "You criticise." in dump(claude.requests[-1]) and "oai-reply-1" in dump(claude.requests[-1])
    assert "write a haiku about tides" in dump(claude.requests[-1])
    gem_req = dump(gem.requests[-1])
    assert "You edit." in gem_req and "oai-reply-1" in gem_req and "claude-reply-1" in gem_req
    # the user view only shows the response agent (plus nothing else)
    assert texts(events) == ["gem-reply-1"]
    assert events[-1]["author"] == c and events[-1]["authorName"] == "Editor"
    # flow state tools are offered to flow agents
    assert {"set_state", "get_state"} <= {t["function"]["name"] for t in oai.requests[-1].json["tools"]}
    assert "exit_loop" not in dump(oai.requests[-1])


async def test_parallel_steps_overlap_on_the_same_input(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                                        gem: FakeServer, arrivals: Arrivals) -> None:
    apps = sqlite_apps
    ra = await agent(apps, await backend(apps, oai, "openai"), "Researcher A", outputKey="a")
    rb = await agent(apps, await backend(apps, claude, "anthropic"), "Researcher B", outputKey="b")
    rc = await agent(apps, await backend(apps, gem, "gemini"), "Researcher C")
    syn = await agent(apps, await backend(apps, oai, "openai", name="oai-2"), "Synth",
                      systemPrompt="Combine A={{agent.output:a}} and B={{agent.output:b}}.")
    fid = await flow(apps, "Fan out", seq(par(step(ra), step(rb), step(rc)), step(syn, response=True)))
    arrivals.delay = 0.6
    events = await run(apps, fid, "research kelp")
    log = arrivals.log
    assert sorted(n for n, _ in log[:3]) == ["claude", "gem", "oai"] and log[3][0] == "oai"
    first_start = min(t for _, t in log[:3])
    # every researcher's call arrived while the first one was still in flight (replies take 0.6 s)
    assert all(t - first_start < 0.5 for _, t in log[:3])
    # the synthesiser started only after all of them answered
    assert log[3][1] - max(t for _, t in log[:3]) >= 0.5
    # same input: no researcher saw another's output
    for fake, others in ((oai, ("claude-reply", "gem-reply")), (claude, ("oai-reply", "gem-reply")),
                         (gem, ("oai-reply", "claude-reply"))):
        first = dump(fake.calls()[0])
        assert "research kelp" in first and not any(o in first for o in others)
    # the synthesiser sees everything: outputKey values rendered into its prompt, and the history
    synth = oai.requests[-1].json["messages"]
    assert synth[0]["role"] == "system"
    assert synth[0]["content"].startswith("Combine A=oai-reply-1 and B=claude-reply-1.")
    assert "gem-reply-1" in json.dumps(synth)
    assert texts(events) == ["oai-reply-2"]


async def test_user_view_vs_admin_view(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "Thinker")
    b = await agent(apps, await backend(apps, claude, "anthropic"), "Speaker")
    fid = await flow(apps, "Views", seq(step(a), step(b, response=True)))
    user_events = await run(apps, fid, "hello")
    assert texts(user_events) == ["claude-reply-1"] and {e["author"] for e in user_events} == {b}
    admin_events = await run(apps, fid, "hello", session="s-admin", admin=True)
    assert texts(admin_events) == ["oai-reply-2", "claude-reply-2"]
    assert [e["authorName"] for e in admin_events if e.get("content")] == ["Thinker", "Speaker"]
    # session history for clients is filtered the same way
    s = (await apps.user.get(f"{U}/apps/{fid}/users/u1/sessions/s1")).json()
    assert [e["author"] for e in s["events"]] == ["user", b]
    s = (await apps.admin.get(f"/api/v1/admin/agent/apps/{fid}/users/u1/sessions/s1")).json()
    assert [e["author"] for e in s["events"]] == ["user", a, b]
    # listed and usable like an agent, incl. the OpenAI-compatible endpoint (joined text of responders)
    assert fid in [a["id"] for a in (await apps.user.get(f"{U}/list-apps?detailed=true")).json()]
    assert fid in [m["magec_id"] for m in (await apps.user.get("/v1/models")).json()["data"]]
    r = await apps.user.post("/v1/chat/completions", json={"model": fid, "messages": [
        {"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "claude-reply-3"


async def test_no_response_agent_shows_all_joined(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "One")
    b = await agent(apps, await backend(apps, claude, "anthropic"), "Two")
    fid = await flow(apps, "All", seq(step(a), step(b)))
    assert texts(await run(apps, fid, "x")) == ["oai-reply-1", "claude-reply-1"]
    r = await apps.user.post("/v1/chat/completions", json={"model": fid, "messages": [
        {"role": "user", "content": "hi"}]})
    assert r.json()["choices"][0]["message"]["content"] == "oai-reply-2\n---\nclaude-reply-2"


async def test_run_sse_streams_flow(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "First")
    b = await agent(apps, await backend(apps, claude, "anthropic"), "Second")
    fid = await flow(apps, "Streamed", seq(step(a), step(b, response=True)))
    events = []
    body = {"appName": fid, "userId": "u", "sessionId": "s", "streaming": True,
            "newMessage": {"parts": [{"text": "stream"}]}}
    async with apps.user.stream("POST", f"{U}/run_sse", json=body) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert texts(events) == ["claude-reply-1"]
    assert all(e["author"] == b for e in events)


async def test_response_flag_is_per_step_not_per_agent(sqlite_apps: Apps, oai: FakeServer,
                                                       claude: FakeServer) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "Twice")
    b = await agent(apps, await backend(apps, claude, "anthropic"), "Middle")
    fid = await flow(apps, "Echo", seq(step(a), step(b), step(a, response=True)))
    events = await run(apps, fid, "x")
    assert texts(events) == ["oai-reply-2"]
    admin = await run(apps, fid, "x", session="s2", admin=True)
    assert texts(admin) == ["oai-reply-3", "claude-reply-2", "oai-reply-4"]


async def test_flow_agents_see_each_other_by_name(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                                  arrivals: Arrivals) -> None:
    """The next agent of a flow is shown what the earlier ones said as ``[author] said:``; the
    author was an id-derived ADK name (``a_<uuid>_1``), so a critic told to weigh the drafter's
    answer could not tell whose answer was whose. It is the agent's name now."""
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "Drafter")
    b = await agent(apps, await backend(apps, claude, "anthropic"), "Critic")
    fid = await flow(apps, "Review", seq(step(a), step(b, response=True)))
    events = await run(apps, fid, "draft a limerick")
    assert texts(events) == ["claude-reply-1"]
    seen = dump(claude.requests[-1])
    assert "[Drafter] said:" in seen and "oai-reply-1" in seen, seen
    assert "[a_" not in seen
    # a user's own words that look like it are left alone
    own = f"[a_{a.replace('-', '_')}_1] said: hello"
    await run(apps, fid, own, session="s2")
    assert own in dump(claude.requests[-1])


async def test_a_failed_step_names_its_agent(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                              arrivals: Arrivals) -> None:
    """A flow mixing providers fails when one agent's provider refuses: the user is told which
    agent failed (the error event is authored by it, and its message starts with its name, on the
    run API and on /v1 alike), not only a provider's message that names no step of the flow."""
    from magec.testing.fake_providers import Reply

    apps = sqlite_apps
    ghost = await agent(apps, await backend(apps, claude, "anthropic"), "Ghost")
    helper = await agent(apps, await backend(apps, oai, "openai"), "Helper")
    critic = await agent(apps, await backend(apps, oai, "openai", name="oai-critic"), "Critic")
    fid = await flow(apps, "Shaky", seq(par(step(ghost), step(helper)), step(critic, response=True)))
    claude.script(Reply.fail(401, "invalid x-api-key"))
    events = await run(apps, fid, "review this")
    failure = events[-1]
    assert failure["errorCode"] == "auth", failure
    assert failure["author"] == ghost and failure["authorName"] == "Ghost", failure
    assert failure["errorMessage"].startswith("Ghost: "), failure
    claude.script(Reply.fail(401, "invalid x-api-key"))
    r = await apps.user.post("/v1/chat/completions", json={"model": "Shaky", "messages": [{"role": "user", "content": "again"}]})
    assert r.json()["error"]["message"].startswith("Ghost: "), r.text
    # a graph flow's agent node alike
    r = await apps.admin.post("/api/v1/admin/flows", json={"name": "Shaky graph", "entry": "first", "nodes": [
        {"id": "first", "type": "agent", "agentId": helper}, {"id": "second", "type": "agent", "agentId": ghost}],
        "edges": [{"from": "first", "to": "second"}]})
    assert r.status_code == 201, r.text
    claude.script(Reply.fail(401, "invalid x-api-key"))
    failure = (await run(apps, r.json()["id"], "graph this"))[-1]
    assert failure["authorName"] == "Ghost" and failure["errorMessage"].startswith("Ghost: "), failure
    # an agent's own turn keeps its message as it was (the agent is the app)
    claude.script(Reply.fail(401, "invalid x-api-key"))
    alone = (await run(apps, ghost, "hello"))[-1]
    assert alone["errorCode"] == "auth" and not alone["errorMessage"].startswith("Ghost: "), alone
    assert alone["author"] == ghost and alone["authorName"] == "Ghost", alone
