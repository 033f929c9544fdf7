"""Graph node types end to end over HTTP: join waits for both branches, parallel maps a list in
order under maxConcurrency, subflows nest (and cycles are refused), expression / template / code
write ``outputKey`` into flow state and feed the next agent."""

from __future__ import annotations

import json
import re

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.flows.conftest import Arrivals
from tests.flows.helpers import A, U, agent, backend, edge, errors, graph, node, run, texts


async def state_of(apps: Apps, fid: str, session: str = "s1") -> dict:  # type: ignore[type-arg]
    r = await apps.user.get(f"{U}/apps/{fid}/users/u1/sessions/{session}")
    assert r.status_code == 200, r.text
    return dict(r.json()["state"])


async def test_join_waits_for_both_branches(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer, gem: FakeServer,
                                            arrivals: Arrivals) -> None:
    apps = sqlite_apps
    lead = await agent(apps, await backend(apps, oai, "openai"), "Lead")
    left = await agent(apps, await backend(apps, claude, "anthropic"), "Left")
    right = await agent(apps, await backend(apps, gem, "gemini"), "Right")
    fid = await graph(apps, "Fan in", "lead", [
        node("lead", "agent", agentId=lead),
        node("left", "agent", agentId=left),
        node("right", "agent", agentId=right),
        node("both", "join"),
        node("report", "template", template="L={{ input.left }} R={{ input.right }}", outputKey="report"),
    ], [edge("lead", "left"), edge("lead", "right"), edge("left", "both"), edge("right", "both"),
        edge("both", "report")])
    arrivals.delay = 0.5
    await run(apps, fid, "go")
    log = arrivals.log
    assert [n for n, _ in log][0] == "oai" and sorted(n for n, _ in log[1:]) == ["claude", "gem"]
    assert abs(log[1][1] - log[2][1]) < 0.4  # the two branches ran at the same time
    state = await state_of(apps, fid)
    # the join fired once, after both branches, with both outputs keyed by node id
    assert state["flow:report"] == "L=claude-reply-1 R=gem-reply-1"


async def test_parallel_maps_in_order_with_concurrency_limit(sqlite_apps: Apps, oai: FakeServer,
                                                             arrivals: Arrivals) -> None:
    apps = sqlite_apps
    worker = await agent(apps, await backend(apps, oai, "openai"), "Worker")
    fid = await graph(apps, "Map", "items", [
        node("items", "expression", expression='["item-a", "item-b", "item-c"]'),
        node("each", "parallel", agentId=worker, maxConcurrency=2, outputKey="results"),
        node("count", "expression", expression="size(input)", outputKey="count"),
    ], [edge("items", "each"), edge("each", "count")])
    arrivals.delay = 0.5
    await run(apps, fid, "map it")
    log = arrivals.log
    assert len(log) == 3
    assert log[1][1] - log[0][1] < 0.4  # two at once ...
    assert log[2][1] - log[0][1] >= 0.45  # ... the third only when one of them finished
    # reply n answered the n-th request: map each item to its reply, the output keeps item order
    reply_for = {}
    for n, req in enumerate(oai.calls(), start=1):
        item = re.search(r"item-[abc]", json.dumps(req.json))
        assert item is not None
        reply_for[item.group(0)] = f"oai-reply-{n}"
    state = await state_of(apps, fid)
    assert state["flow:results"] == [reply_for["item-a"], reply_for["item-b"], reply_for["item-c"]]
    assert state["flow:count"] == 3


async def test_subflow_nests_and_cycles_are_refused(sqlite_apps: Apps, oai: FakeServer, gem: FakeServer,
                                                    arrivals: Arrivals) -> None:
    apps = sqlite_apps
    outer_agent = await agent(apps, await backend(apps, oai, "openai"), "Outer")
    inner_agent = await agent(apps, await backend(apps, gem, "gemini"), "Inner")
    inner = await graph(apps, "Inner flow", "think", [
        node("think", "agent", agentId=inner_agent),
        node("wrap", "template", template="inner:{{ input }}"),
    ], [edge("think", "wrap")])
    outer = await graph(apps, "Outer flow", "first", [
        node("first", "agent", agentId=outer_agent),
        node("nested", "subflow", flowId=inner),
        node("done", "template", template="outer got {{ input }}", outputKey="final"),
    ], [edge("first", "nested"), edge("nested", "done")])
    await run(apps, outer, "hello")
    assert arrivals.names() == ["oai", "gem"]
    assert (await state_of(apps, outer))["flow:final"] == "outer got inner:gem-reply-1"
    # the inner agent saw the conversation so far (one session)
    assert "oai-reply-1" in json.dumps(gem.requests[-1].json)
    # inner embedding outer: a cycle -> 400 naming the node's flowId
    r = await apps.admin.put(f"{A}/flows/{inner}", json={"name": "Inner flow", "entry": "think", "nodes": [
        {"id": "think", "type": "agent", "agentId": inner_agent},
        {"id": "back", "type": "subflow", "flowId": outer}], "edges": [{"from": "think", "to": "back"}]})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "nodes[1].flowId" and "cycle" in r.json()["error"]
    # a referenced flow is guarded; a forced delete removes the subflow node and its edges
    r = await apps.admin.delete(f"{A}/flows/{inner}")
    assert r.status_code == 409, r.text
    assert (await apps.admin.delete(f"{A}/flows/{inner}?force=true")).status_code == 204
    scrubbed = (await apps.admin.get(f"{A}/flows/{outer}")).json()
    assert [n["id"] for n in scrubbed["nodes"]] == ["first", "done"] and scrubbed["edges"] == []


async def test_expression_template_code_feed_state_and_agent(sqlite_apps: Apps, oai: FakeServer,
                                                             arrivals: Arrivals) -> None:
    apps = sqlite_apps
    writer = await agent(apps, await backend(apps, oai, "openai"), "Writer")
    fid = await graph(apps, "Data", "stats", [
        node("stats", "expression", expression='{"n": size(input), "up": input + "!"}', outputKey="stats"),
        node("calc", "code", script='words = input["up"].split(" ")\n'
                                    'output = {"words": len(words), "n": state["stats"]["n"], "first": words[0]}',
             outputKey="calc"),
        node("say", "template", template="words={{ input.words }} n={{ state.stats.n }} first={{ input.first }}",
             outputKey="summary"),
        node("write", "agent", agentId=writer, responseAgent=True),
    ], [edge("stats", "calc"), edge("calc", "say"), edge("say", "write")])
    events = await run(apps, fid, "three small words")
    state = await state_of(apps, fid)
    assert state["flow:stats"] == {"n": 17, "up": "three small words!"}
    assert state["flow:calc"] == {"words": 3, "n": 17, "first": "three"}
    assert state["flow:summary"] == "words=3 n=17 first=three"
    # the agent after a data node gets that node's output
    assert "words=3 n=17 first=three" in json.dumps(oai.requests[-1].json)
    assert texts(events) == ["oai-reply-1"]


async def test_invalid_agent_names_the_node_and_tree_subflows_nest(sqlite_apps: Apps, oai: FakeServer,
                                                                   arrivals: Arrivals) -> None:
    apps = sqlite_apps
    good = await agent(apps, await backend(apps, oai, "openai"), "Good")
    bad = (await apps.admin.post(f"{A}/agents", json={"name": "Brainless"})).json()["id"]
    broken = await graph(apps, "Broken", "a", [node("a", "agent", agentId=good), node("b", "agent", agentId=bad)],
                         [edge("a", "b")])
    view = (await apps.admin.get(f"{A}/flows/{broken}")).json()
    assert view["valid"] is False
    assert view["invalidReason"] == "Node \"b\": agent 'Brainless': LLM backend not configured"
    r = await apps.user.post(f"{U}/run", json={"appName": broken, "userId": "u",
                                               "newMessage": {"parts": [{"text": "hi"}]}})
    assert r.status_code == 503 and 'Node "b"' in r.json()["error"]
    # a tree flow embedded in a graph runs in place (a tree has no output: the next node gets none)
    tree = (await apps.admin.post(f"{A}/flows", json={"name": "Tree", "root": {
        "type": "sequential", "steps": [{"type": "agent", "agentId": good, "responseAgent": True}]}})).json()["id"]
    outer = await graph(apps, "Outer", "pre", [
        node("pre", "template", template="pre:{{ input }}", outputKey="pre"),
        node("tree", "subflow", flowId=tree),
        node("post", "template", template="post:{{ input }}", outputKey="post"),
    ], [edge("pre", "tree"), edge("tree", "post")])
    events = await run(apps, outer, "hi")
    assert texts(events) == ["oai-reply-1"]
    state = await state_of(apps, outer)
    assert state["flow:pre"] == "pre:hi" and state["flow:post"] == "post:"


async def test_a_parallel_node_refuses_a_models_nasty_json_as_it_refuses_malformed_json(
        sqlite_apps: Apps, oai: FakeServer, arrivals: Arrivals) -> None:
    """The list a parallel node maps is often a model's answer: NaN, or nesting deep enough for a
    RecursionError, is no JSON array either — the node's own error, not an internal one."""
    apps = sqlite_apps
    model = await backend(apps, oai, "openai")
    lister, worker = await agent(apps, model, "Lister"), await agent(apps, model, "Worker")
    fid = await graph(apps, "Map answer", "list", [
        node("list", "agent", agentId=lister),
        node("each", "parallel", agentId=worker, outputKey="results"),
    ], [edge("list", "each")])
    for i, answer in enumerate(["not json", "[NaN]", "[" * 100_000 + "]" * 100_000]):
        arrivals.clear()
        arrivals.plan[("oai", 1)] = Reply(text=answer)
        events = await run(apps, fid, "list them", session=f"nasty-{i}")
        assert [e.get("errorCode") for e in events if "errorCode" in e] == ["flow_node_error"], events[-1]
        assert "input must be a list (a JSON array)" in errors(events)[0]
        assert len(arrivals.log) == 1  # the worker never ran
