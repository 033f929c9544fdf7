"""Loops: stop at maxIterations, by exit_loop (at the iteration boundary), by a CEL expression over
state written with set_state; nested loops restart their count; exit_loop only where allowed."""

from __future__ import annotations

import json

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply, ToolCall
from tests.flows.conftest import Arrivals
from tests.flows.helpers import U, agent, backend, flow, loop, run, seq, step, texts


def tool_names(req_json: dict) -> set[str]:  # type: ignore[type-arg]
    return {t["function"]["name"] for t in req_json.get("tools") or []}


async def test_loop_stops_at_limit(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer, arrivals: Arrivals) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "Writer")
    b = await agent(apps, await backend(apps, claude, "anthropic"), "Reviewer")
    fid = await flow(apps, "Three rounds", loop(step(a), step(b, response=True), max_iterations=3))
    events = await run(apps, fid, "go")
    assert arrivals.names() == ["oai", "claude"] * 3
    assert texts(events) == ["claude-reply-1", "claude-reply-2", "claude-reply-3"]
    # the last writer call saw every earlier round
    last = json.dumps(oai.requests[-1].json)
    assert "claude-reply-2" in last and "oai-reply-2" in last
    # no exit strategy -> no exit_loop tool, but state tools
    assert tool_names(oai.requests[-1].json) == {"set_state", "get_state"}


async def test_exit_loop_fires_at_iteration_boundary(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                                     arrivals: Arrivals) -> None:
    apps = sqlite_apps
    mod = await agent(apps, await backend(apps, claude, "anthropic"), "Moderator")
    deb = await agent(apps, await backend(apps, oai, "openai"), "Debater")
    # the moderator decides in its 2nd call (iteration 2); the debater after it still runs
    arrivals.plan[("claude", 2)] = Reply(tool_calls=[ToolCall("exit_loop", {})])
    fid = await flow(apps, "Debate", loop(step(mod), seq(step(deb)), max_iterations=5, mode="agent"))
    events = await run(apps, fid, "debate this")
    assert arrivals.names() == ["claude", "oai", "claude", "claude", "oai"]
    assert "exit_loop" in tool_names(oai.requests[-1].json)  # nested in a sequential: still offered
    assert any("exit_loop" in json.dumps(t) for t in claude.requests[-1].json["tools"])
    # the tool result went back to the moderator
    assert "the loop stops after the current iteration" in json.dumps(claude.requests[-1].json)
    assert texts(events)[-1] == "oai-reply-2"
    # a new turn starts a fresh loop (the exit request was consumed, not persisted)
    arrivals.log.clear()
    arrivals.plan.clear()
    await run(apps, fid, "again")
    assert arrivals.names() == ["claude", "oai"] * 5


async def test_cel_expression_over_set_state(sqlite_apps: Apps, oai: FakeServer, arrivals: Arrivals) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "Judge")
    arrivals.plan[("oai", 2)] = Reply(tool_calls=[ToolCall("set_state", {"key": "approved", "value": True})])
    arrivals.plan[("oai", 3)] = Reply(tool_calls=[ToolCall("set_state", {"key": "notes", "value": {"score": 0.9,
                                                                                             "tags": ["a"]}})])
    fid = await flow(apps, "Until approved",
                     loop(step(a), max_iterations=5, mode="expression", expression="state.approved == true"))
    await run(apps, fid, "judge")
    # iteration 1: one call; iteration 2: set approved, set notes, final text -> the expression stops it
    assert arrivals.names() == ["oai"] * 4
    assert "exit_loop" not in tool_names(oai.requests[-1].json)
    results = [m for m in oai.requests[-1].json["messages"] if m["role"] == "tool"]
    assert json.loads(results[-1]["content"]) == {"success": True, "key": "notes", "message": "state 'notes' saved"}
    session = (await apps.user.get(f"{U}/apps/{fid}/users/u1/sessions/s1")).json()
    assert session["state"]["flow:approved"] is True
    assert session["state"]["flow:notes"] == {"score": 0.9, "tags": ["a"]}
    # state persists in the session: the next turn's first iteration already satisfies the expression
    arrivals.log.clear()
    arrivals.plan.clear()
    await run(apps, fid, "again")
    assert arrivals.names() == ["oai"]
    # a new session starts with empty state
    arrivals.log.clear()
    await run(apps, fid, "fresh", session="s2")
    assert arrivals.names() == ["oai"] * 5


async def test_get_state_and_invalid_key(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                         arrivals: Arrivals) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "Setter")
    b = await agent(apps, await backend(apps, claude, "anthropic"), "Getter")
    arrivals.plan[("oai", 1)] = Reply(tool_calls=[ToolCall("set_state", {"key": "9bad", "value": 1})])
    arrivals.plan[("oai", 2)] = Reply(tool_calls=[ToolCall("set_state", {"key": "plan", "value": [1, "two"]})])
    arrivals.plan[("claude", 1)] = Reply(tool_calls=[ToolCall("get_state", {"key": "plan"})])
    arrivals.plan[("claude", 2)] = Reply(tool_calls=[ToolCall("get_state", {"key": "missing"})])
    fid = await flow(apps, "Share", seq(step(a), step(b)))
    await run(apps, fid, "share")
    sent = json.dumps(oai.calls()[1].json)
    assert "invalid key" in sent and '\\"success\\": false' in sent
    claude_msgs = json.dumps(claude.requests[-1].json)
    assert '\\"found\\": true' in claude_msgs and '\\"value\\": [1, \\"two\\"]' in claude_msgs
    assert '\\"found\\": false' in claude_msgs


async def test_nested_loops_restart_their_count(sqlite_apps: Apps, oai: FakeServer, arrivals: Arrivals) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "Inner")
    fid = await flow(apps, "Nested", loop(loop(step(a), max_iterations=2), max_iterations=3))
    await run(apps, fid, "spin")
    assert arrivals.names() == ["oai"] * 6
