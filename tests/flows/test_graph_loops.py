"""Graph loops: a back-edge through a router repeats until a rule says done (``iterations``,
state written by an expression node), and a loop that never ends stops at the runaway cap with
one ``flow_runaway`` error while the server stays responsive."""

from __future__ import annotations

import time

import httpx2
import openai
import pytest

from magec.server import user_app
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply, ToolCall
from tests.flows.conftest import Arrivals
from tests.flows.helpers import U, agent, backend, edge, errors, graph, node, run, texts


async def test_back_edge_loop_until_iterations(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                               arrivals: Arrivals) -> None:
    apps = sqlite_apps
    writer = await agent(apps, await backend(apps, oai, "openai"), "Writer")
    editor = await agent(apps, await backend(apps, claude, "anthropic"), "Editor")
    fid = await graph(apps, "Rewrite", "write", [
        node("write", "agent", agentId=writer),
        node("again", "router", rules=[{"when": "iterations >= 2", "route": "done"}]),
        node("edit", "agent", agentId=editor, responseAgent=True),
    ], [edge("write", "again"), edge("again", "edit", "done"), edge("again", "write", "otherwise")])
    events = await run(apps, fid, "a poem")
    assert arrivals.names() == ["oai", "oai", "oai", "claude"]
    assert texts(events) == ["claude-reply-1"]
    # the third writer call saw the first two drafts (one conversation)
    assert "oai-reply-2" in str(oai.requests[-1].json)


async def test_loop_until_state_set_by_agent(sqlite_apps: Apps, oai: FakeServer, arrivals: Arrivals) -> None:
    apps = sqlite_apps
    judge = await agent(apps, await backend(apps, oai, "openai"), "Judge")
    arrivals.plan[("oai", 2)] = Reply(tool_calls=[ToolCall("set_state", {"key": "approved", "value": True})])
    fid = await graph(apps, "Until approved", "judge", [
        node("judge", "agent", agentId=judge, responseAgent=True),
        node("check", "router", rules=[{"when": "has(state.approved) && state.approved == true", "route": "yes"},
                                       {"when": "iterations >= 9", "route": "yes"}]),
        node("out", "template", template="approved after {{ state.approved }}", outputKey="verdict"),
    ], [edge("judge", "check"), edge("check", "out", "yes"), edge("check", "judge", "otherwise")])
    await run(apps, fid, "judge")
    # call 1: text; call 2: set_state, call 3: text after the tool -> the router sees approved
    assert arrivals.names() == ["oai"] * 3
    session = (await apps.user.get(f"{U}/apps/{fid}/users/u1/sessions/s1")).json()
    assert session["state"]["flow:verdict"] == "approved after true"


async def test_runaway_loop_stops_at_the_cap(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    r = await apps.admin.put("/api/v1/admin/settings", json={"flows": {"maxRouterActivations": 40}})
    assert r.status_code == 200, r.text
    assert r.json()["flows"]["maxRouterActivations"] == 40
    fid = await graph(apps, "Forever", "tick", [
        node("tick", "expression", expression="input"),
        node("spin", "router", rules=[{"when": "false", "route": "never"}]),
        node("end", "template", template="unreachable"),
    ], [edge("tick", "spin"), edge("spin", "end", "never"), edge("spin", "tick", "otherwise")])
    started = time.monotonic()
    events = await run(apps, fid, "spin")
    assert [e["errorCode"] for e in events if "errorCode" in e] == ["flow_runaway"]
    assert "spin" in errors(events)[0] and "40" in errors(events)[0]
    assert time.monotonic() - started < 30
    # the server still answers
    assert (await apps.user.get(f"{U}/list-apps")).status_code == 200


async def _talking_runaway(apps: Apps, oai: FakeServer, agent_name: str, flow_name: str) -> tuple[str, str]:
    """A graph flow whose agent speaks on every round of a loop that never ends (a cap of 3 router
    activations stops it); the flow's and the agent's ids."""
    r = await apps.admin.put("/api/v1/admin/settings", json={"flows": {"maxRouterActivations": 3}})
    assert r.status_code == 200, r.text
    talker = await agent(apps, await backend(apps, oai, "openai"), agent_name)
    return await graph(apps, flow_name, "say", [
        node("say", "agent", agentId=talker, responseAgent=True),
        node("spin", "router", rules=[{"when": "false", "route": "never"}]),
        node("end", "template", template="unreachable"),
    ], [edge("say", "spin"), edge("spin", "end", "never"), edge("spin", "say", "otherwise")]), talker


async def test_a_runaway_loop_that_spoke_is_the_error_on_whole_v1_answers(sqlite_apps: Apps, oai: FakeServer) -> None:
    """A loop stopped at the runaway cap had its agent speak on every round: a whole ``/v1`` answer is
    the error (as the run API's last event and a stream's end say), not a 200 holding the rounds'
    output as if it were the answer."""
    apps = sqlite_apps
    fid, _ = await _talking_runaway(apps, oai, "Talker", "Chatty forever")
    r = await apps.user.post("/v1/chat/completions", json={"model": fid, "messages": [{"role": "user", "content": "go"}]})
    assert r.status_code == 500 and r.json()["error"]["code"] == "flow_runaway", r.text
    r = await apps.user.post("/v1/responses", json={"model": fid, "input": "go"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "flow_runaway", r.text
    assert len(oai.calls()) >= 2  # the agent did speak before the cap


async def test_openai_sdks_do_not_run_a_runaway_flow_three_times(sqlite_apps: Apps, oai: FakeServer) -> None:
    """OpenAI's SDKs retry every 5xx twice by default: a flow stopped at its runaway cap was run
    three times over (three times its model calls) before the user saw the error. A failure the
    same request would only meet again says ``x-should-retry: false``, which the SDKs obey; a
    transient one (an open circuit, 503) keeps their retries."""
    apps = sqlite_apps
    fid, talker = await _talking_runaway(apps, oai, "Looper", "Loops forever")
    r = await apps.user.post("/v1/chat/completions", json={"model": fid, "messages": [{"role": "user", "content": "go"}]})
    assert r.status_code == 500 and r.json()["error"]["code"] == "flow_runaway", r.text
    assert r.headers["x-should-retry"] == "false"
    one_run = len(oai.calls())
    assert one_run >= 2

    transport = httpx2.ASGITransport(app=user_app(apps.ctx))
    client = openai.AsyncOpenAI(base_url="http://user/v1", api_key="none",  # the SDK's default retries
                                http_client=httpx2.AsyncClient(transport=transport))
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model=fid, messages=[{"role": "user", "content": "go"}])
    assert "flow_runaway" in str(caught.value.body) or caught.value.status_code == 500
    assert len(oai.calls()) == 2 * one_run  # one more run, not three

    # a provider's 5xx may pass: left to the SDK's judgement, no such header
    oai.script(*[Reply.fail(500, "upstream hiccup")] * 3)  # every attempt of the backend's budget
    r = await apps.user.post("/v1/chat/completions", json={"model": talker, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code >= 500 and r.json()["error"]["code"] == "http_error", r.text
    assert "x-should-retry" not in r.headers
