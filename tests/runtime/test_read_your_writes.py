"""Live means live, as a client sees it: the request right after a write's answer sees the write.

Nothing here waits on the runtime: every test acts on the answer of its own write at once, the way
a script or a UI does (create → run, switch → run, delete → run).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.runtime.test_run_api import texts

A = "/api/v1/admin"
U = "/api/v1/agent"


async def new_backend(apps: Apps, server: FakeServer, name: str) -> str:
    r = await apps.admin.post(f"{A}/backends", json={"name": name, "type": "openai", "url": server.url,
                                                      "apiKey": "sk-x-key-1234"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def new_agent(apps: Apps, backend: str, name: str, **extra: Any) -> str:
    r = await apps.admin.post(f"{A}/agents", json={"name": name, "llm": {"backend": backend, "model": "m-1"},
                                                    **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def run_body(app: str, text: str, session: str = "s", **extra: Any) -> dict[str, Any]:
    return {"appName": app, "userId": "u", "sessionId": session, "newMessage": {"parts": [{"text": text}]},
            **extra}


async def sse_events(apps: Apps, body: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    async with apps.user.stream("POST", f"{U}/run_sse", json=body) as r:
        assert r.status_code == 200, await r.aread()
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


async def builds(apps: Apps) -> float:
    text = (await apps.admin.get("/metrics")).text
    m = re.search(r"^magec_app_builds_total ([0-9.e+]+)$", text, re.M)
    assert m, text[:2000]
    return float(m.group(1))


async def test_create_then_use_at_once_on_every_route(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    for i in range(5):  # several rounds: a race that loses one time in a few shows up
        bid = await new_backend(apps, openai_x, f"X{i}")
        aid = await new_agent(apps, bid, f"run-{i}")
        r = await apps.user.post(f"{U}/run", json=run_body(aid, "first"))
        assert r.status_code == 200, r.text
        assert texts(r.json()) == ["openai-x says: first"]

        aid = await new_agent(apps, bid, f"sse-{i}")
        events = await sse_events(apps, run_body(aid, "streamed", streaming=True))
        assert texts(events)[-1] == "openai-x says: streamed"

        aid = await new_agent(apps, bid, f"v1-{i}")
        r = await apps.user.post("/v1/chat/completions", json={
            "model": aid, "messages": [{"role": "user", "content": "compat"}]})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "openai-x says: compat"

        aid = await new_agent(apps, bid, f"v1s-{i}")
        async with apps.user.stream("POST", "/v1/chat/completions", json={
                "model": aid, "stream": True, "messages": [{"role": "user", "content": "s"}]},
                headers={"X-Session-Id": f"conv-{i}"}) as r:
            assert r.status_code == 200, await r.aread()
            body = (await r.aread()).decode()
        chunks = [json.loads(line[6:]) for line in body.splitlines()
                  if line.startswith("data: ") and line != "data: [DONE]"]
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "openai-x says: s"
        assert body.rstrip().endswith("data: [DONE]")

        # voice: the new agent exists at once, so the answer is "not configured" (503), never 404
        aid = await new_agent(apps, bid, f"voice-{i}")
        r = await apps.user.post(f"/api/v1/voice/{aid}/speech", json={"input": "hi"})
        assert r.status_code == 503 and r.json()["error"] == "speech not configured for this agent"

        # a flow over a brand-new agent, run at once
        aid = await new_agent(apps, bid, f"step-{i}")
        r = await apps.admin.post(f"{A}/flows", json={"name": f"flow-{i}", "root": {
            "type": "sequential", "steps": [{"type": "agent", "agentId": aid, "responseAgent": True}]}})
        assert r.status_code == 201, r.text
        fid = r.json()["id"]
        r = await apps.user.post(f"{U}/run", json=run_body(fid, "flowing"))
        assert r.status_code == 200, r.text
        assert texts(r.json())[-1] == "openai-x says: flowing"
        assert fid in [a["id"] for a in (await apps.user.get(f"{U}/list-apps?detailed=true")).json()]


async def test_switch_and_delete_backend_apply_to_the_next_turn(
    sqlite_apps: Apps, openai_x: FakeServer, openai_y: FakeServer
) -> None:
    apps = sqlite_apps
    bx = await new_backend(apps, openai_x, "X")
    by = await new_backend(apps, openai_y, "Y")
    aid = await new_agent(apps, bx, "Switcher")
    agent = (await apps.admin.get(f"{A}/agents/{aid}")).json()
    for i in range(6):
        target, name = (by, "openai-y") if i % 2 == 0 else (bx, "openai-x")
        r = await apps.admin.put(f"{A}/agents/{aid}", json={**agent, "llm": {"backend": target, "model": "m-1"}})
        assert r.status_code == 200 and r.json()["pending"] is False
        r = await apps.user.post(f"{U}/run", json=run_body(aid, f"turn {i}"))
        assert texts(r.json()) == [f"{name} says: turn {i}"], r.text
    # the agent is on X now; deleting X (force) takes the agent down on the very next turn
    assert (await apps.admin.delete(f"{A}/backends/{bx}?force=true")).status_code == 204
    r = await apps.user.post(f"{U}/run", json=run_body(aid, "after delete"))
    assert r.status_code == 503, r.text
    assert "backend not configured" in r.json()["error"]
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 503
    # …and back to life with the next write
    r = await apps.admin.put(f"{A}/agents/{aid}", json={**agent, "llm": {"backend": by, "model": "m-1"}})
    r = await apps.user.post(f"{U}/run", json=run_body(aid, "revived"))
    assert texts(r.json()) == ["openai-y says: revived"]


async def test_secret_change_applies_to_the_next_turn(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """openai_x only accepts its own key: a secret fixed after the fact works on the next turn."""
    apps = sqlite_apps
    s = (await apps.admin.post(f"{A}/secrets", json={"name": "k", "key": "X_KEY", "value": "wrong-key"})).json()
    b = (await apps.admin.post(f"{A}/backends", json={"name": "X", "type": "openai", "url": openai_x.url,
                                                       "apiKey": "${X_KEY}"})).json()
    aid = await new_agent(apps, b["id"], "Keyed")
    r = await apps.user.post(f"{U}/run", json=run_body(aid, "one"))
    assert r.json()[-1].get("errorCode"), r.text
    r = await apps.admin.put(f"{A}/secrets/{s['id']}", json={"name": "k", "key": "X_KEY", "value": "sk-x-key-1234"})
    assert r.status_code == 200
    r = await apps.user.post(f"{U}/run", json=run_body(aid, "two", session="s2"))
    assert texts(r.json()) == ["openai-x says: two"], r.text


async def test_one_edit_rebuilds_only_what_depends_on_it(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    bid = await new_backend(apps, openai_x, "X")
    other = await new_backend(apps, openai_x, "Other")
    ids = [await new_agent(apps, bid, f"agent-{i}") for i in range(30)]
    loner = await new_agent(apps, other, "loner")
    r = await apps.admin.post(f"{A}/flows", json={"name": "pair", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": ids[0]}, {"type": "agent", "agentId": ids[1], "responseAgent": True}]}})
    assert r.status_code == 201

    before = await builds(apps)
    agent = (await apps.admin.get(f"{A}/agents/{ids[5]}")).json()
    await apps.admin.put(f"{A}/agents/{ids[5]}", json={**agent, "systemPrompt": "changed"})
    assert await builds(apps) - before == 1  # that agent only

    before = await builds(apps)
    agent = (await apps.admin.get(f"{A}/agents/{ids[0]}")).json()
    await apps.admin.put(f"{A}/agents/{ids[0]}", json={**agent, "systemPrompt": "changed"})
    assert await builds(apps) - before == 2  # the agent and the flow that contains it

    before = await builds(apps)
    b = (await apps.admin.get(f"{A}/backends/{other}")).json()
    await apps.admin.put(f"{A}/backends/{other}", json={**b, "timeout": 30})
    assert await builds(apps) - before == 1  # the one agent on that backend

    before = await builds(apps)
    await apps.admin.post(f"{A}/secrets", json={"name": "unused", "key": "UNUSED", "value": "v"})
    assert await builds(apps) - before == 0
    r = await apps.user.post(f"{U}/run", json=run_body(loner, "still fine"))
    assert texts(r.json()) == ["openai-x says: still fine"]


async def test_a_burst_of_writes_is_visible_to_each_writer(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """20 concurrent creates: each writer can use its agent as soon as its own answer arrives."""
    apps = sqlite_apps
    bid = await new_backend(apps, openai_x, "X")

    async def create_and_run(i: int) -> list[str]:
        aid = await new_agent(apps, bid, f"burst-{i}")
        r = await apps.user.post(f"{U}/run", json=run_body(aid, f"n{i}"))
        assert r.status_code == 200, r.text
        return texts(r.json())

    before = await builds(apps)
    answers = await asyncio.gather(*(create_and_run(i) for i in range(20)))
    assert answers == [[f"openai-x says: n{i}"] for i in range(20)]
    assert await builds(apps) - before == 20  # each new agent built once, the others reused


async def test_concurrent_first_requests_on_one_new_session(session_apps: Apps, openai_x: FakeServer) -> None:
    apps = session_apps
    bid = await new_backend(apps, openai_x, "X")
    aid = await new_agent(apps, bid, "Busy")

    # what a UI does when it opens a conversation: create-or-get the session, many times at once
    rs = await asyncio.gather(*(apps.user.post(f"{U}/apps/{aid}/users/u/sessions/opened", json={})
                                for _ in range(50)))
    assert [r.status_code for r in rs] == [200] * 50, [r.text for r in rs if r.status_code != 200][:3]
    assert {r.json()["id"] for r in rs} == {"opened"}

    # 50 first turns on one new session id, at once
    rs = await asyncio.gather(*(apps.user.post(f"{U}/run", json=run_body(aid, f"m{i}", session="race"))
                                for i in range(50)))
    bad = [r.text for r in rs if r.status_code != 200 or any(e.get("errorCode") for e in r.json())]
    assert not bad, bad[:3]
    sessions = (await apps.user.get(f"{U}/apps/{aid}/users/u/sessions")).json()
    assert sorted(s["id"] for s in sessions) == ["opened", "race"]
    history = (await apps.user.get(f"{U}/apps/{aid}/users/u/sessions/race")).json()["events"]
    said = [p["text"] for e in history for p in (e.get("content") or {}).get("parts", []) if "text" in p]
    assert len(said) == 100
    # every turn's events, in order: each question directly followed by its own answer
    for question, answer in zip(said[::2], said[1::2], strict=True):
        assert answer == f"openai-x says: {question}"
    assert sorted(said[::2]) == sorted(f"m{i}" for i in range(50))

    # the same through the OpenAI surface with X-Session-Id
    rs = await asyncio.gather(*(apps.user.post(
        "/v1/chat/completions", headers={"X-Session-Id": "compat-race"},
        json={"model": aid, "messages": [{"role": "user", "content": f"c{i}"}]}) for i in range(50)))
    assert [r.status_code for r in rs] == [200] * 50, [r.text for r in rs if r.status_code != 200][:3]
    assert sorted(r.json()["choices"][0]["message"]["content"] for r in rs) == sorted(
        f"openai-x says: c{i}" for i in range(50))
