"""Flow errors read in user words over HTTP (``Step 2: agent is required``, ``Node "billing": …``)
while the error's ``field`` keeps the JSON path; a flow made invalid later says why in words."""

from __future__ import annotations

from typing import Any

import pytest

from magec.flows.wording import in_words
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.flows.helpers import A, agent, backend, flow, seq, step

GRAPH = {"nodes": [{"id": "classify"}, {"id": "route"}, {"id": "billing"}],
         "edges": [{"from": "classify", "to": "route"}, {"from": "route", "to": "ghost"}]}


@pytest.mark.parametrize("message, words", [
    ("root.steps[1].agentId: is required for agent steps", "Step 2: agent is required"),
    ("root.steps[0].steps[2].agentId: is required for agent steps", "Step 1.3: agent is required"),
    ("root.agentId: is required for agent steps", "The flow: agent is required"),
    ("root.steps: a sequential step needs at least one child step",
     "The flow: a sequential step needs at least one child step"),
    ("root.steps[2].maxIterations: must be at least 1", "Step 3: max iterations must be at least 1"),
    ("root.steps[2].exit.expression: CEL expression does not compile: x",
     "Step 3, exit condition: CEL expression does not compile: x"),
    ("root.steps[0].agentId: agent 'nope' not found", "Step 1: agent 'nope' not found"),
    ("root.steps[1]: agent 'Brainless': LLM backend not configured",
     "Step 2: agent 'Brainless': LLM backend not configured"),
    ("nodes[2].agentId: is required for agent nodes", 'Node "billing": agent is required'),
    ("nodes[1].rules[0].when: CEL expression must be boolean", 'Node "route", rule 1 condition: CEL expression must be boolean'),
    ("nodes[1].rules: a router needs at least one rule", 'Node "route": a router needs at least one rule'),
    ("nodes[0].id: '9a' is not a valid node id", "Node 1, id: '9a' is not a valid node id"),
    ("nodes[2]: is not reachable from the entry node 'classify'",
     "Node \"billing\" is not reachable from the entry node 'classify'"),
    ("edges[1].to: node 'ghost' not found", "Edge \"route → ghost\", target: node 'ghost' not found"),
    ("entry: is required (the id of the first node)", "Start node is required (the id of the first node)"),
    ("edges: the graph needs at least one terminal node", "Edges: the graph needs at least one terminal node"),
    ("request body must be a JSON object", "request body must be a JSON object"),
])
def test_paths_become_words(message: str, words: str) -> None:
    assert in_words(message, GRAPH) == words


async def post(apps: Apps, body: dict[str, Any]) -> dict[str, Any]:
    r = await apps.admin.post(f"{A}/flows", json={"name": "F", **body})
    assert r.status_code == 400, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_save_errors_in_words_keep_the_field(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "A")
    err = await post(apps, {"root": seq(step(a), {"type": "agent", "agentId": ""})})
    assert err["error"] == "Step 2: agent is required" and err["field"] == "root.steps[1].agentId"
    assert err["code"] == "validation_error"
    err = await post(apps, {"root": seq(step(a), step("ghost"))})
    assert err["error"] == "Step 2: agent 'ghost' not found" and err["field"] == "root.steps[1].agentId"
    err = await post(apps, {"root": seq({"type": "loop", "steps": [step(a)]})})
    assert err["error"] == "Step 1: max iterations must be at least 1" and err["field"] == "root.steps[0].maxIterations"
    err = await post(apps, {"entry": "ask", "nodes": [{"id": "ask", "type": "agent", "agentId": a},
                                                      {"id": "billing", "type": "agent"}],
                            "edges": [{"from": "ask", "to": "billing"}]})
    assert err["error"] == 'Node "billing": agent is required' and err["field"] == "nodes[1].agentId"
    assert "root." not in err["error"] and "nodes[" not in err["error"]


async def test_invalid_reason_in_words(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    good = await agent(apps, await backend(apps, oai, "openai"), "Good")
    bad = (await apps.admin.post(f"{A}/agents", json={"name": "Brainless"})).json()["id"]
    fid = await flow(apps, "Broken", seq(step(good), step(bad)))
    view = (await apps.admin.get(f"{A}/flows/{fid}")).json()
    assert view["valid"] is False
    assert view["invalidReason"] == "Step 2: agent 'Brainless': LLM backend not configured"
