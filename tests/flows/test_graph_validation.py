"""Every save-time rule of graph flows answers 400 naming the field (Magec's rules), nothing is
stored, and tree flows are still stored and returned exactly as written."""

from __future__ import annotations

from typing import Any

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.flows.helpers import A, agent, backend, edge, node

AG = "@agent"  # replaced by a real agent id


def n(node_id: str, ntype: str = "agent", **f: Any) -> dict[str, Any]:
    if ntype in ("agent", "parallel") and "agentId" not in f:
        f["agentId"] = AG
    return node(node_id, ntype, **f)


ROUTER = n("r", "router", rules=[{"when": "iterations > 1", "route": "done"}])

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("no nodes", {"entry": "a", "nodes": [], "edges": []}, "nodes", "at least one node"),
    ("bad id", {"entry": "9a", "nodes": [n("9a")], "edges": []}, "nodes[0].id", "not a valid node id"),
    ("START id", {"entry": "START", "nodes": [n("START")], "edges": []}, "nodes[0].id", "not a valid"),
    ("duplicate id", {"entry": "a", "nodes": [n("a"), n("a")], "edges": []}, "nodes[1].id", "duplicate"),
    ("agent without agentId", {"entry": "a", "nodes": [node("a", "agent")], "edges": []}, "nodes[0].agentId",
     "required"),
    ("parallel without agentId", {"entry": "a", "nodes": [node("a", "parallel")], "edges": []},
     "nodes[0].agentId", "required"),
    ("subflow without flowId", {"entry": "a", "nodes": [node("a", "subflow")], "edges": []}, "nodes[0].flowId",
     "required"),
    ("unknown agent", {"entry": "a", "nodes": [n("a", agentId="ghost")], "edges": []}, "nodes[0].agentId",
     "not found"),
    ("unknown flow", {"entry": "a", "nodes": [node("a", "subflow", flowId="ghost")], "edges": []},
     "nodes[0].flowId", "not found"),
    ("router without rules", {"entry": "r", "nodes": [node("r", "router"), n("a")],
                              "edges": [edge("r", "a", "otherwise")]}, "nodes[0].rules", "at least one rule"),
    ("rule does not compile", {"entry": "r", "nodes": [node("r", "router", rules=[{"when": "state.(", "route": "x"}])],
                               "edges": []}, "nodes[0].rules[0].when", "does not compile"),
    ("rule not boolean", {"entry": "r", "nodes": [node("r", "router", rules=[{"when": "1 + 2", "route": "x"}])],
                          "edges": []}, "nodes[0].rules[0].when", "boolean"),
    ("bad route label", {"entry": "r", "nodes": [node("r", "router", rules=[{"when": "true", "route": "a b"}])],
                         "edges": []}, "nodes[0].rules[0].route", "route label"),
    ("expression does not compile", {"entry": "e", "nodes": [node("e", "expression", expression="1 +")],
                                     "edges": []}, "nodes[0].expression", "does not compile"),
    ("empty template", {"entry": "t", "nodes": [node("t", "template", template=" ")], "edges": []},
     "nodes[0].template", "required"),
    ("script does not parse", {"entry": "c", "nodes": [node("c", "code", script="output = (")], "edges": []},
     "nodes[0].script", "does not parse"),
    ("bad outputKey", {"entry": "t", "nodes": [node("t", "template", template="x", outputKey="9x")], "edges": []},
     "nodes[0].outputKey", "outputKey"),
    ("edge to unknown node", {"entry": "a", "nodes": [n("a")], "edges": [edge("a", "ghost")]}, "edges[0].to",
     "not found"),
    ("edge from START", {"entry": "a", "nodes": [n("a")], "edges": [edge("START", "a")]}, "edges[0].from",
     "not found"),
    ("duplicate edge", {"entry": "a", "nodes": [n("a"), n("b")], "edges": [edge("a", "b"), edge("a", "b")]},
     "edges[1]", "duplicate edge"),
    ("route on a plain edge", {"entry": "a", "nodes": [n("a"), n("b")], "edges": [edge("a", "b", "x")]},
     "edges[0].route", "only allowed on edges leaving a router"),
    ("unrouted router edge", {"entry": "r", "nodes": [ROUTER, n("a")], "edges": [edge("r", "a")]},
     "edges[0].route", "need a route label"),
    ("label never emitted", {"entry": "r", "nodes": [ROUTER, n("a"), n("b")],
                             "edges": [edge("r", "a", "done"), edge("r", "b", "nope")]},
     "edges[1].route", "never emits"),
    ("label without edge", {"entry": "r", "nodes": [ROUTER, n("a")], "edges": [edge("r", "a", "done")]},
     "nodes[0].rules", "'otherwise' needs exactly one"),
    ("label with two edges", {"entry": "r", "nodes": [ROUTER, n("a"), n("b")],
                              "edges": [edge("r", "a", "done"), edge("r", "b", "done"),
                                        edge("r", "a", "otherwise")]},
     "nodes[0].rules", "'done' needs exactly one"),
    ("routed edge into join", {"entry": "r", "nodes": [ROUTER, node("j", "join"), n("a")],
                               "edges": [edge("r", "j", "done"), edge("r", "a", "otherwise")]},
     "edges[0].to", "may not enter join"),
    ("no entry", {"entry": "", "nodes": [n("a")], "edges": []}, "entry", "required"),
    ("entry missing", {"entry": "zz", "nodes": [n("a")], "edges": []}, "entry", "not found"),
    ("unreachable node", {"entry": "a", "nodes": [n("a"), n("b"), n("c")], "edges": [edge("a", "b")]},
     "nodes[2]", "not reachable"),
    ("no terminal", {"entry": "a", "nodes": [n("a"), ROUTER],
                     "edges": [edge("a", "r"), edge("r", "a", "done"), edge("r", "a", "otherwise")]},
     "edges", "terminal"),
    ("cycle without router", {"entry": "a", "nodes": [n("a"), n("b"), n("c")],
                              "edges": [edge("a", "b"), edge("b", "a"), edge("b", "c")]},
     "edges", "no router"),
    ("both forms", {"root": {"type": "agent", "agentId": AG}, "entry": "a", "nodes": [n("a")], "edges": []},
     "root", "not both"),
    ("neither form", {}, "root", "required"),
]


def _bind(value: Any, agent_id: str) -> Any:
    if value == AG:
        return agent_id
    if isinstance(value, dict):
        return {k: _bind(v, agent_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_bind(v, agent_id) for v in value]
    return value


@pytest.mark.parametrize("body, field, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_graph_is_400_naming_the_field(sqlite_apps: Apps, oai: FakeServer, body: dict[str, Any],
                                                 field: str, fragment: str) -> None:
    apps = sqlite_apps
    aid = await agent(apps, await backend(apps, oai, "openai"), "A")
    r = await apps.admin.post(f"{A}/flows", json={"name": "Bad", **_bind(body, aid)})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field, r.json()
    assert fragment in r.json()["error"], r.json()
    assert (await apps.admin.get(f"{A}/flows")).json() == []


async def test_tree_flow_is_returned_as_written(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    aid = await agent(apps, await backend(apps, oai, "openai"), "A")
    body = {"name": "Tree", "root": {"type": "sequential", "steps": [{"type": "agent", "agentId": aid}]}}
    r = await apps.admin.post(f"{A}/flows", json=body)
    assert r.status_code in (200, 201), r.text
    stored = r.json()
    assert "nodes" not in stored and "edges" not in stored and "entry" not in stored
    assert stored["root"]["steps"][0]["agentId"] == aid
