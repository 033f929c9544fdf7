"""Graph flows as a user meets them: on /v1 (OpenAI-compatible) like an agent, events naming the
node that ran, an edit applying to the very next request, a deleted agent guarded."""

from __future__ import annotations

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.flows.conftest import Arrivals
from tests.flows.helpers import A, agent, backend, edge, graph, node, run, texts


def support(classifier: str, billing: str, general: str, when: str) -> dict:  # type: ignore[type-arg]
    return {"name": "Support", "entry": "classify", "nodes": [
        node("classify", "agent", agentId=classifier),
        node("route", "router", rules=[{"when": when, "route": "billing"}]),
        node("billing", "agent", agentId=billing, responseAgent=True),
        node("general", "agent", agentId=general, responseAgent=True),
    ], "edges": [edge("classify", "route"), edge("route", "billing", "billing"),
                 edge("route", "general", "otherwise")]}


async def test_v1_live_edit_and_delete_guard(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                             gem: FakeServer, arrivals: Arrivals) -> None:
    apps = sqlite_apps
    classifier = await agent(apps, await backend(apps, oai, "openai"), "Classifier")
    billing = await agent(apps, await backend(apps, claude, "anthropic"), "Billing")
    general = await agent(apps, await backend(apps, gem, "gemini"), "General")
    body = support(classifier, billing, general, 'input.contains("billing")')
    fid = await graph(apps, body["name"], body["entry"], body["nodes"], body["edges"])
    arrivals.plan[("oai", 1)] = Reply(text="billing")
    r = await apps.user.post("/v1/chat/completions", json={"model": fid, "messages": [
        {"role": "user", "content": "refund please"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "claude-reply-1"
    # events name the node that ran: the classifier, then the billing agent answering
    arrivals.clear()
    arrivals.plan[("oai", 1)] = Reply(text="billing")
    events = await run(apps, fid, "invoice?", session="ev")
    answer = [e for e in events if (e.get("content") or {}).get("parts")][-1]
    assert answer["author"] == billing and answer["authorName"] == "Billing"
    assert answer["nodeInfo"]["path"].endswith("/billing@1")
    assert texts(events) == ["claude-reply-1"]
    # edit: the rule now sends everything to billing only when the text says "urgent"
    r = await apps.admin.put(f"{A}/flows/{fid}", json=support(classifier, billing, general,
                                                             'input.contains("urgent")'))
    assert r.status_code == 200, r.text
    arrivals.clear()
    arrivals.plan[("oai", 1)] = Reply(text="billing")
    events = await run(apps, fid, "refund please", session="after-edit")
    assert arrivals.names() == ["oai", "gem"]  # the very next request follows the edited rule
    assert texts(events) == ["gem-reply-1"]
    # the agent used by the graph is guarded; force removes its node and edges, clearing nothing else
    assert (await apps.admin.delete(f"{A}/agents/{billing}")).status_code == 409
    assert (await apps.admin.delete(f"{A}/agents/{billing}?force=true")).status_code == 204
    flow = (await apps.admin.get(f"{A}/flows/{fid}")).json()
    assert [n["id"] for n in flow["nodes"]] == ["classify", "route", "general"]
    assert {"from": "route", "to": "billing", "route": "billing"} not in flow["edges"]
    assert flow["entry"] == "classify"


async def test_streaming_run_sse_and_v1(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer, gem: FakeServer,
                                        arrivals: Arrivals) -> None:
    import json

    apps = sqlite_apps
    classifier = await agent(apps, await backend(apps, oai, "openai"), "Classifier")
    billing = await agent(apps, await backend(apps, claude, "anthropic"), "Billing")
    general = await agent(apps, await backend(apps, gem, "gemini"), "General")
    body = support(classifier, billing, general, 'input.contains("billing")')
    fid = await graph(apps, body["name"], body["entry"], body["nodes"], body["edges"])
    arrivals.plan[("oai", 1)] = Reply(text="billing")
    events = []
    req = {"appName": fid, "userId": "u", "sessionId": "s", "streaming": True,
           "newMessage": {"parts": [{"text": "my invoice"}]}}
    async with apps.user.stream("POST", "/api/v1/agent/run_sse", json=req) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert texts(events) == ["claude-reply-1"] and all(e["author"] == billing for e in events)
    arrivals.clear()
    arrivals.plan[("oai", 1)] = Reply(text="other")
    pieces = []
    async with apps.user.stream("POST", "/v1/chat/completions", json={
            "model": fid, "stream": True, "messages": [{"role": "user", "content": "hello"}]}) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line[6:])
                pieces += [c["delta"].get("content") or "" for c in chunk.get("choices", [])]
    assert "".join(pieces) == "gem-reply-1"
