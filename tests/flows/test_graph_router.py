"""Graph flows: a router picks the branch by the classifier's output, ``otherwise`` catches the
rest, a back-edge through a router loops until its rule or its cap, and events name the nodes."""

from __future__ import annotations

import json

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.flows.conftest import Arrivals
from tests.flows.helpers import U, agent, backend, edge, graph, node, run, texts


async def _support_flow(apps: Apps, oai: FakeServer, claude: FakeServer, gem: FakeServer) -> tuple[str, str, str, str]:
    classifier = await agent(apps, await backend(apps, oai, "openai"), "Classifier",
                             systemPrompt="Answer with one word: billing or tech.")
    billing = await agent(apps, await backend(apps, claude, "anthropic"), "Billing")
    general = await agent(apps, await backend(apps, gem, "gemini"), "General")
    fid = await graph(apps, "Support", "classify", [
        node("classify", "agent", agentId=classifier, x=10, y=20),
        node("route", "router", rules=[{"when": 'input.contains("billing")', "route": "billing"}]),
        node("billing-desk", "agent", agentId=billing, responseAgent=True),
        node("general", "agent", agentId=general, responseAgent=True),
    ], [edge("classify", "route"), edge("route", "billing-desk", "billing"), edge("route", "general", "otherwise")],
        startX=5, startY=6)
    return fid, classifier, billing, general


async def test_router_picks_branch_by_classifier_output(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                                         gem: FakeServer, arrivals: Arrivals) -> None:
    apps = sqlite_apps
    fid, _, billing, general = await _support_flow(apps, oai, claude, gem)
    arrivals.plan[("oai", 1)] = Reply(text="billing")
    events = await run(apps, fid, "I was charged twice")
    assert arrivals.names() == ["oai", "claude"]
    assert texts(events) == ["claude-reply-1"]
    assert events[-1]["author"] == billing
    # the billing agent saw the user's message and the classifier's answer
    seen = json.dumps(claude.requests[-1].json)
    assert "I was charged twice" in seen and "billing" in seen
    # the playground (admin view) shows the path: the router's event names it and the route it took
    arrivals.clear()
    arrivals.plan[("oai", 1)] = Reply(text="billing")
    events = await run(apps, fid, "charged twice again", session="admin-view", admin=True)
    routed = [e for e in events if (e.get("actions") or {}).get("route")]
    assert [(e["author"], e["actions"]["route"]) for e in routed] == [("route", "billing")]
    assert routed[0]["nodeInfo"]["path"].endswith("/route@1")
    # otherwise: anything the rule does not match goes to the general agent
    arrivals.clear()
    arrivals.plan[("oai", 1)] = Reply(text="tech")
    events = await run(apps, fid, "my screen is black", session="s2")
    assert arrivals.names() == ["oai", "gem"]
    assert texts(events) == ["gem-reply-1"]
    assert events[-1]["author"] == general
    # the graph is stored and returned as written, layout fields included
    stored = (await apps.admin.get(f"/api/v1/admin/flows/{fid}")).json()
    assert "root" not in stored and stored["entry"] == "classify" and stored["startX"] == 5
    # Magec's omitempty: a node keeps its type's fields and its layout, nothing unset of other types
    assert stored["nodes"][0] == {"id": "classify", "type": "agent", "agentId": stored["nodes"][0]["agentId"],
                                  "responseAgent": False, "x": 10, "y": 20}
    assert stored["nodes"][1] == {"id": "route", "type": "router",
                                  "rules": [{"when": 'input.contains("billing")', "route": "billing"}]}
    assert stored["edges"][:2] == [{"from": "classify", "to": "route"},
                                   {"from": "route", "to": "billing-desk", "route": "billing"}]
    # the run API lists the flow like an agent
    apps_list = (await apps.user.get(f"{U}/list-apps?detailed=true")).json()
    assert fid in json.dumps(apps_list)
