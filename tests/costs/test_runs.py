"""Flow runs: every run of a tree flow and of a graph flow with a router is recorded with the path
it took, per-node timing, the agent/backend/model of each agent node and its tokens; ``/runs``
filters and pages them; a failed run says why."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, RecordedRequest, Reply
from tests.costs.helpers import A, agent, backend, client, run

DELAY = 0.15


class Script:
    """Chat replies by order of arrival: ``plan[n]`` for the n-th, else ``reply-<n>`` after DELAY."""

    def __init__(self) -> None:
        self.plan: dict[int, Reply] = {}
        self.n = 0
        self.lock = threading.Lock()

    def __call__(self, req: RecordedRequest) -> Reply | None:
        if req.route != "chat":
            return None
        with self.lock:
            self.n += 1
            return self.plan.get(self.n) or Reply(text=f"reply-{self.n}", delay=DELAY, usage=(10 * self.n, self.n))


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def oai(script: Script) -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("oai", responder=script)) as s:
        yield s


async def runs(apps: Apps, **params: Any) -> dict[str, Any]:
    r = await apps.admin.get(f"{A}/runs", params=params)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_tree_flow_run_has_path_and_per_node_timing(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    b = await backend(apps, oai)
    writer = await agent(apps, b, "Writer", model="gpt-4o-mini")
    critic = await agent(apps, b, "Critic", model="gpt-4o")
    r = await apps.admin.post(f"{A}/flows", json={"name": "Review", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": writer},
        {"type": "parallel", "steps": [{"type": "agent", "agentId": critic}, {"type": "agent", "agentId": writer}]},
        {"type": "agent", "agentId": critic, "responseAgent": True}]}})
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    await run(apps, fid, "draft a haiku", session="tree-1")

    listed = await runs(apps, appName=fid)
    assert listed["total"] == 1
    item = listed["items"][0]
    assert item["appName"] == fid and item["flowName"] == "Review" and item["status"] == "completed"
    assert item["sessionId"] == "tree-1" and item["userId"] == "u1" and item["clientId"] == ""
    assert item["source"] == "run"  # the surface, as the conversation audit names it
    assert "activations" not in item
    detail = (await apps.admin.get(f"{A}/runs/{item['runId']}")).json()
    acts = detail["activations"]
    assert [a["agentName"] for a in acts[:1] + acts[3:]] == ["Writer", "Critic"]
    assert sorted(a["agentName"] for a in acts[1:3]) == ["Critic", "Writer"]  # the parallel pair
    assert detail["path"] == [a["node"] for a in acts]
    # each agent node waited for its model call: its timing shows it, and the nodes ran in order
    for a in acts:
        assert a["durationMs"] >= DELAY * 1000 * 0.9, a
        assert a["backendId"] == b and a["model"] == ("gpt-4o-mini" if a["agentName"] == "Writer" else "gpt-4o")
        assert a["outputTokens"] >= 1 and a["inputTokens"] >= 10
    assert acts[0]["endedAt"] <= acts[1]["startedAt"] and acts[2]["endedAt"] <= acts[3]["startedAt"]
    # the two parallel steps overlapped
    assert acts[1]["startedAt"] < acts[2]["endedAt"] and acts[2]["startedAt"] < acts[1]["endedAt"]
    assert detail["inputTokens"] == sum(a["inputTokens"] for a in acts) == 10 + 20 + 30 + 40
    assert detail["outputTokens"] == 1 + 2 + 3 + 4
    assert detail["durationMs"] >= 3 * DELAY * 1000 * 0.9
    assert acts[-1]["outputPreview"] == "reply-4"


async def _support(apps: Apps, oai: FakeServer) -> tuple[str, str, str]:
    b = await backend(apps, oai)
    classifier = await agent(apps, b, "Classifier")
    desk = await agent(apps, b, "Desk")
    r = await apps.admin.post(f"{A}/flows", json={"name": "Support", "entry": "classify", "nodes": [
        {"id": "classify", "type": "agent", "agentId": classifier},
        {"id": "route", "type": "router", "rules": [{"when": 'input.contains("billing")', "route": "billing"}]},
        {"id": "billing-desk", "type": "agent", "agentId": desk, "responseAgent": True},
        {"id": "general", "type": "agent", "agentId": desk, "responseAgent": True}],
        "edges": [{"from": "classify", "to": "route"}, {"from": "route", "to": "billing-desk", "route": "billing"},
                  {"from": "route", "to": "general", "route": "otherwise"}]})
    assert r.status_code == 201, r.text
    return r.json()["id"], classifier, desk


async def test_graph_flow_run_records_router_decision(sqlite_apps: Apps, oai: FakeServer, script: Script) -> None:
    apps = sqlite_apps
    fid, classifier, desk = await _support(apps, oai)
    script.plan[1] = Reply(text="billing", usage=(7, 2))
    await run(apps, fid, "I was charged twice", session="g1")
    script.plan[3] = Reply(text="tech")
    await run(apps, fid, "my screen is black", session="g2")

    listed = await runs(apps, appName=fid)
    assert listed["total"] == 2
    by_session = {i["sessionId"]: i for i in listed["items"]}
    assert by_session["g1"]["path"] == ["classify", "route", "billing-desk"]
    assert by_session["g2"]["path"] == ["classify", "route", "general"]
    assert listed["items"][0]["sessionId"] == "g2"  # newest first
    detail = (await apps.admin.get(f"{A}/runs/{by_session['g1']['runId']}")).json()
    classify, route, billing = detail["activations"]
    assert (classify["node"], classify["agentId"], classify["inputTokens"], classify["outputTokens"]) == (
        "classify", classifier, 7, 2)
    assert classify["outputPreview"] == "billing"
    assert route["node"] == "route" and route["routes"] == ["billing"] and "agentId" not in route
    assert billing["node"] == "billing-desk" and billing["agentId"] == desk and billing["agentName"] == "Desk"
    assert billing["durationMs"] >= DELAY * 1000 * 0.9
    assert classify["endedAt"] <= route["startedAt"] <= route["endedAt"] <= billing["startedAt"]
    g2 = (await apps.admin.get(f"{A}/runs/{by_session['g2']['runId']}")).json()
    assert [a["routes"] for a in g2["activations"]] == [[], ["otherwise"], []]
    # a client's run: the client and the user as the client knows them
    web = await client(apps, "Web", [fid])
    await run(apps, fid, "hello", token=web["token"], session="g3", user="alice")
    g3 = next(i for i in (await runs(apps, appName=fid))["items"] if i["sessionId"] == "g3")
    assert (g3["clientId"], g3["userId"], g3["status"]) == (web["id"], "alice", "completed")


async def test_failed_run_filters_and_paging(sqlite_apps: Apps, oai: FakeServer, script: Script) -> None:
    apps = sqlite_apps
    fid, _, _ = await _support(apps, oai)
    await run(apps, fid, "hello", session="ok")
    script.plan[4] = Reply(status=400, error="bad things")  # the desk, after classify and route
    events = await run(apps, fid, "hello again", session="bad")
    assert events[-1]["errorCode"]

    failed = await runs(apps, status="failed")
    assert failed["total"] == 1
    bad = failed["items"][0]
    assert bad["sessionId"] == "bad" and bad["errorCode"] == events[-1]["errorCode"] and bad["error"]
    assert bad["path"] == ["classify", "route"]
    assert (await runs(apps, status="completed"))["items"][0]["sessionId"] == "ok"
    page = await runs(apps, limit=1, offset=1)
    assert page["total"] == 2 and [i["sessionId"] for i in page["items"]] == ["ok"]
    assert (await runs(apps, appName="other"))["total"] == 0
    today = bad["startedAt"][:10]
    assert (await runs(apps, **{"from": today, "to": today}))["total"] == 2
    assert (await runs(apps, to="2020-01-01"))["total"] == 0
    # bad input is a 400 naming the parameter
    for params, field in (({"status": "weird"}, "status"), ({"limit": "x"}, "limit"), ({"from": "nope"}, "from"),
                          ({"limit": 0}, "limit")):
        r = await apps.admin.get(f"{A}/runs", params=params)
        assert r.status_code == 400 and r.json()["field"] == field, r.text
    r = await apps.admin.get(f"{A}/runs/does-not-exist")
    assert r.status_code == 404
    # retention: runs started before a day are deleted on request
    r = await apps.admin.delete(f"{A}/runs")
    assert r.status_code == 400 and r.json()["field"] == "before"
    assert (await apps.admin.delete(f"{A}/runs", params={"before": today})).json() == {"deleted": 0}
    tomorrow = (datetime.fromisoformat(today) + timedelta(days=1)).date().isoformat()
    assert (await apps.admin.delete(f"{A}/runs", params={"before": tomorrow})).json() == {"deleted": 2}
    assert (await runs(apps))["total"] == 0


async def test_graph_loop_records_each_activation(sqlite_apps: Apps, oai: FakeServer) -> None:
    """A back-edge through a router: the nodes in the loop have one activation per iteration."""
    apps = sqlite_apps
    b = await backend(apps, oai)
    writer = await agent(apps, b, "Writer")
    r = await apps.admin.post(f"{A}/flows", json={"name": "Drafts", "entry": "draft", "nodes": [
        {"id": "draft", "type": "agent", "agentId": writer},
        {"id": "check", "type": "router", "rules": [{"when": "iterations < 1", "route": "again"}]},
        {"id": "final", "type": "agent", "agentId": writer, "responseAgent": True}],
        "edges": [{"from": "draft", "to": "check"}, {"from": "check", "to": "draft", "route": "again"},
                  {"from": "check", "to": "final", "route": "otherwise"}]})
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    await run(apps, fid, "write", session="loop")
    item = (await runs(apps, appName=fid))["items"][0]
    assert item["path"] == ["draft", "check", "draft", "check", "final"]
    acts = (await apps.admin.get(f"{A}/runs/{item['runId']}")).json()["activations"]
    assert [(a["node"], a["seq"]) for a in acts] == [("draft", 1), ("check", 1), ("draft", 2), ("check", 2),
                                                      ("final", 1)]
    assert [a["routes"] for a in acts if a["node"] == "check"] == [["again"], ["otherwise"]]
    assert [a["inputTokens"] for a in acts if a["node"] != "check"] == [10, 20, 30]
