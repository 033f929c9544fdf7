"""Flows cannot fan out without bound.

A parallel step runs every branch at once and a ``parallel`` graph node makes one model call per
item of its input list, which is often a model's answer (and so, through prompt injection, a
client's words). One turn must not become thousands of concurrent provider calls: a tree
container holds at most 100 steps and a tree at most 500 (400 naming the field at save time); a
parallel node maps at most 100 items (its own error, before any worker runs).
"""

from __future__ import annotations

import json

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.flows.conftest import Arrivals
from tests.flows.helpers import A, agent, backend, edge, errors, graph, node, par, run, seq, step


async def test_tree_containers_and_trees_are_capped(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    worker = await agent(apps, await backend(apps, oai, "openai"), "Worker")
    r = await apps.admin.post(f"{A}/flows", json={"name": "wide", "root": par(*[step(worker)] * 101)})
    assert r.status_code == 400 and r.json()["field"] == "root.steps", r.text
    r = await apps.admin.post(f"{A}/flows", json={"name": "ok", "root": par(*[step(worker)] * 100)})
    assert r.status_code == 201, r.text
    # 6 containers of 100: each within the cap, the tree beyond it
    r = await apps.admin.post(f"{A}/flows", json={"name": "big", "root": seq(*[par(*[step(worker)] * 100)] * 6)})
    assert r.status_code == 400 and r.json()["field"] == "root" and "500" in r.json()["error"], r.text


async def test_parallel_node_maps_at_most_100_items(sqlite_apps: Apps, oai: FakeServer, arrivals: Arrivals) -> None:
    apps = sqlite_apps
    model = await backend(apps, oai, "openai")
    lister, worker = await agent(apps, model, "Lister"), await agent(apps, model, "Worker")
    fid = await graph(apps, "Map answer", "list", [
        node("list", "agent", agentId=lister),
        node("each", "parallel", agentId=worker, outputKey="results"),
    ], [edge("list", "each")])
    arrivals.clear()
    arrivals.plan[("oai", 1)] = Reply(text=json.dumps(list(range(101))))
    events = await run(apps, fid, "list them", session="wide")
    assert [e.get("errorCode") for e in events if "errorCode" in e] == ["flow_node_error"], events[-1]
    assert "at most 100" in errors(events)[0]
    assert len(arrivals.log) == 1  # the worker never ran
