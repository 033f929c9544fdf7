"""Agents on their own backends through /run, /run_sse and sessions (ADK shapes)."""

from __future__ import annotations

import json
from typing import Any

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply

A = "/api/v1/admin"
U = "/api/v1/agent"


async def make_agent(apps: Apps, server: FakeServer, btype: str = "openai", key: str = "sk-x-key-1234",
                     name: str = "Helper", **agent: Any) -> tuple[str, str]:
    b = (await apps.admin.post(f"{A}/backends", json={"name": f"{name}-backend", "type": btype, "url": server.url,
                                                       "apiKey": key, "headers": {"X-Team": "blue"}})).json()
    a = (await apps.admin.post(f"{A}/agents", json={"name": name, "llm": {"backend": b["id"], "model": "m-1"},
                                                     **agent})).json()
    assert apps.ctx.runtime is not None
    return b["id"], a["id"]


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [p["text"] for e in events if not e.get("partial") for p in (e.get("content") or {}).get("parts", [])
            if "text" in p]


async def test_run_and_session_history(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x, systemPrompt="You are terse.")
    r = await apps.user.post(f"{U}/apps/{aid}/users/u1/sessions/s1", json={"state": {"client:lang": "es"}})
    assert r.status_code == 200 and r.json()["id"] == "s1" and r.json()["state"]["client:lang"] == "es"
    r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u1", "sessionId": "s1",
                                               "newMessage": {"role": "user", "parts": [{"text": "hello there"}]}})
    assert r.status_code == 200, r.text
    events = r.json()
    assert texts(events) == ["openai-x says: hello there"]
    assert events[-1]["author"] == aid and events[-1]["authorName"] == "Helper"
    req = openai_x.requests_to("chat")[-1]
    assert req.headers["authorization"] == "Bearer sk-x-key-1234" and req.headers["x-team"] == "blue"
    assert req.json["messages"][0]["role"] == "system"
    assert req.json["messages"][0]["content"].startswith("You are terse.")
    # snake_case body works too (Magec issue #26), and history is kept
    r = await apps.user.post(f"{U}/run", json={"app_name": aid, "user_id": "u1", "session_id": "s1",
                                               "new_message": {"role": "user", "parts": [{"text": "again"}]}})
    assert texts(r.json()) == ["openai-x says: again"]
    sent = openai_x.requests_to("chat")[-1].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    # idempotent create keeps state and history
    r = await apps.user.post(f"{U}/apps/{aid}/users/u1/sessions/s1", json={})
    assert r.json()["state"]["client:lang"] == "es" and len(r.json()["events"]) == 4
    sessions = (await apps.user.get(f"{U}/apps/{aid}/users/u1/sessions")).json()
    assert [s["id"] for s in sessions] == ["s1"] and sessions[0]["state"]["client:lang"] == "es"
    assert (await apps.user.delete(f"{U}/apps/{aid}/users/u1/sessions/s1")).status_code == 204
    assert (await apps.user.get(f"{U}/apps/{aid}/users/u1/sessions/s1")).status_code == 404
    assert (await apps.user.get(f"{U}/list-apps")).json() == ["Helper"]  # names, as ADK's list-apps
    detailed = (await apps.user.get(f"{U}/list-apps?detailed=true")).json()
    assert [(a["id"], a["name"]) for a in detailed] == [(aid, "Helper")]


async def test_run_sse_streams_partials(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    # a paced provider: each token is its own network read, so each reaches the client on its own
    # (tokens that arrive together are relayed together: see the test below)
    openai_x.script(Reply(text="openai-x says: stream me please", chunk_delay=0.05))
    body = {"appName": aid, "userId": "u", "sessionId": "s", "streaming": True,
            "newMessage": {"parts": [{"text": "stream me please"}]}}
    events = []
    async with apps.user.stream("POST", f"{U}/run_sse", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    partials = [e for e in events if e.get("partial")]
    assert len(partials) >= 2
    assert "".join(p["content"]["parts"][0]["text"] for p in partials) == "openai-x says: stream me please"
    assert texts(events)[-1] == "openai-x says: stream me please"
    assert openai_x.requests_to("chat")[-1].json["stream"] is True


async def test_backend_error_becomes_error_event(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x, key="sk-wrong-key-999")
    body = {"appName": aid, "userId": "u", "sessionId": "s", "newMessage": {"parts": [{"text": "hi"}]}}
    r = await apps.user.post(f"{U}/run", json=body)
    assert r.status_code == 200
    err = r.json()[-1]
    assert err["errorCode"] == "auth" and "sk-wrong-key-999" not in json.dumps(r.json())
    events = []
    async with apps.user.stream("POST", f"{U}/run_sse", json={**body, "streaming": True}) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["errorCode"] == "auth"


async def test_invalid_agent_503_and_unknown_404(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    a = (await apps.admin.post(f"{A}/agents", json={"name": "No brain"})).json()
    view = (await apps.admin.get(f"{A}/agents/{a['id']}")).json()
    assert view["valid"] is False and view["invalidReason"] == "LLM backend not configured"
    body = {"appName": a["id"], "userId": "u", "newMessage": {"parts": [{"text": "hi"}]}}
    r = await apps.user.post(f"{U}/run", json=body)
    assert r.status_code == 503 and r.json()["error"] == "LLM backend not configured"
    r = await apps.user.post(f"{U}/run", json={**body, "appName": "nope"})
    assert r.status_code == 404
    r = await apps.user.post(f"{U}/run", json={"userId": "u"})
    assert r.status_code == 400 and "appName" in r.json()["error"]
    assert r.json()["detail"] == r.json()["error"]  # ADK clients read "detail"


async def test_adk_parity_routes(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """What ADK's web UI and clients send: names, session state, PATCH, import, sessionId, version."""
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    assert (await apps.user.get(f"{U}/version")).json()["version"] == "2.13.0"
    info = (await apps.user.get(f"{U}/apps/Helper/app-info")).json()
    assert info["name"] == "Helper" and info["language"] == "python" and info["rootAgentName"]
    base = f"{U}/apps/Helper/users/u1/sessions"  # the name works wherever an app is named
    r = await apps.user.post(base, json={"sessionId": "chosen", "state": {"client:theme": "dark"}})
    assert r.status_code == 200 and r.json()["id"] == "chosen"
    r = await apps.user.patch(f"{base}/chosen", json={"stateDelta": {"client:theme": "light"}})
    assert r.status_code == 200 and r.json()["state"]["client:theme"] == "light"
    r = await apps.user.patch(f"{base}/chosen", json={"state_delta": {"secret": 1}})
    assert r.status_code == 400 and r.json()["field"] == "stateDelta.secret"  # clients write client:* only
    assert (await apps.user.patch(f"{base}/nope", json={"stateDelta": {}})).status_code == 404
    listed = (await apps.user.get(base)).json()
    assert [(s["id"], s["state"]) for s in listed] == [("chosen", {"client:theme": "light"})]
    history = [{"author": "user", "content": {"role": "user", "parts": [{"text": "my name is Ada"}]}},
               {"author": aid, "content": {"role": "model", "parts": [{"text": "Hi Ada"}]}}]
    r = await apps.user.post(base, json={"session_id": "imported", "events": history})
    assert r.status_code == 200 and [e["author"] for e in r.json()["events"]] == ["user", aid]
    run = {"appName": "Helper", "userId": "u1", "sessionId": "imported",
           "newMessage": {"role": "user", "parts": [{"text": "who am I?"}]}}
    assert (await apps.user.post(f"{U}/run", json=run)).status_code == 200
    sent = [m["content"] for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] != "system"]
    assert sent == ["my name is Ada", "Hi Ada", "who am I?"]
    bad = [{"author": "user", "actions": {"stateDelta": {"x": 1}}}]
    r = await apps.user.post(base, json={"events": bad})
    assert r.status_code == 400 and r.json()["field"] == "events[0]"
    r = await apps.user.post(base, json={"sessionId": "imported", "events": history})
    assert r.status_code == 409  # no import into an existing conversation
    schema = (await apps.user.get("/openapi.json")).json()
    run_body = schema["paths"][f"{U}/run"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"appName", "userId", "newMessage"} <= set(run_body["properties"])


import pytest  # noqa: E402


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
async def test_other_vendors_end_to_end(sqlite_apps: Apps, kind: str, request: pytest.FixtureRequest) -> None:
    server: FakeServer = request.getfixturevalue(f"{kind}_fake")
    apps = sqlite_apps
    _, aid = await make_agent(apps, server, btype=kind, key="vendor-key-123")
    name = "claude-fake" if kind == "anthropic" else "gemini-fake"
    r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": "s",
                                               "newMessage": {"parts": [{"text": "bonjour"}]}})
    assert texts(r.json()) == [f"{name} says: bonjour"], r.text
    events = []
    body = {"appName": aid, "userId": "u", "sessionId": "s", "streaming": True,
            "newMessage": {"parts": [{"text": "streamed"}]}}
    async with apps.user.stream("POST", f"{U}/run_sse", json=body) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert texts(events)[-1] == f"{name} says: streamed"
    assert any(e.get("partial") for e in events)
    last = server.requests[-1]
    assert last.headers.get("x-team") == "blue"
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": [{"role": "user", "content": "hey"}]})
    assert r.json()["choices"][0]["message"]["content"] == f"{name} says: hey"
