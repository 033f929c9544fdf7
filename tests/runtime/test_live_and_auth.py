"""Live change with no restart, isolation of broken agents, client-token auth."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.runtime.test_run_api import make_agent, texts

A = "/api/v1/admin"
U = "/api/v1/agent"


async def collect_sse(apps: Apps, body: dict[str, Any], headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    events = []
    async with apps.user.stream("POST", f"{U}/run_sse", json=body, headers=headers or {}) as r:
        assert r.status_code == 200, await r.aread()
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


async def test_backend_switch_while_streaming(sqlite_apps: Apps, openai_x: FakeServer, openai_y: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    y = (await apps.admin.post(f"{A}/backends", json={"name": "Y", "type": "openai", "url": openai_y.url})).json()
    openai_x.script(Reply(text="slow answer from x in many small pieces", chunks=[
        "slow ", "answer ", "from ", "x ", "in ", "many ", "small ", "pieces"], chunk_delay=0.15))
    body = {"appName": aid, "userId": "u", "sessionId": "live", "streaming": True,
            "newMessage": {"parts": [{"text": "tell me slowly"}]}}
    running = asyncio.create_task(collect_sse(apps, body))
    while not openai_x.requests:
        await asyncio.sleep(0.01)
    agent = (await apps.admin.get(f"{A}/agents/{aid}")).json()
    r = await apps.admin.put(f"{A}/agents/{aid}", json={**agent, "llm": {"backend": y["id"], "model": "m-2"}})
    assert r.status_code == 200
    events = await running
    assert not running.cancelled()
    assert texts(events)[-1] == "slow answer from x in many small pieces"
    assert not any(e.get("errorCode") for e in events)
    r = await apps.user.post(f"{U}/run", json={**body, "streaming": False, "newMessage": {"parts": [{"text": "next"}]}})
    assert texts(r.json()) == ["openai-y says: next"]
    sent = openai_y.requests_to("chat")[-1].json
    assert sent["model"] == "m-2"
    assert [m.get("content") for m in sent["messages"] if m["role"] != "system"] == [
        "tell me slowly", "slow answer from x in many small pieces", "next"]


async def test_isolation_when_backend_force_deleted(sqlite_apps: Apps, openai_x: FakeServer, openai_y: FakeServer) -> None:
    apps = sqlite_apps
    bx, a_id = await make_agent(apps, openai_x, name="A")
    _, b_id = await make_agent(apps, openai_y, name="B", key="")
    assert (await apps.admin.delete(f"{A}/backends/{bx}")).status_code == 409
    assert (await apps.admin.delete(f"{A}/backends/{bx}?force=true")).status_code == 204
    msg = {"userId": "u", "newMessage": {"parts": [{"text": "ping"}]}}
    r = await apps.user.post(f"{U}/run", json={**msg, "appName": b_id})
    assert r.status_code == 200 and texts(r.json()) == ["openai-y says: ping"]
    r = await apps.user.post(f"{U}/run", json={**msg, "appName": a_id})
    assert r.status_code == 503 and r.json()["error"] == "LLM backend not configured"
    view = (await apps.admin.get(f"{A}/agents/{a_id}")).json()
    assert view["valid"] is False


async def test_missing_backend_reason(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    # a dangling reference (e.g. written by an older version): the agent says why
    await apps.ctx.store.patch_raw("agents", aid, lambda d: {**d, "llm": {**d["llm"], "backend": "gone"}})
    r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "newMessage": {"parts": [{"text": "x"}]}})
    assert r.status_code == 503 and r.json()["error"] == "LLM backend not found"


async def test_client_auth(sqlite_apps: Apps, openai_x: FakeServer, openai_y: FakeServer) -> None:
    apps = sqlite_apps
    _, a_id = await make_agent(apps, openai_x, name="A")
    _, b_id = await make_agent(apps, openai_y, name="B", key="")
    msg = {"userId": "u", "newMessage": {"parts": [{"text": "hi"}]}}
    # open mode while no client exists
    assert (await apps.user.post(f"{U}/run", json={**msg, "appName": a_id})).status_code == 200
    c = (await apps.admin.post(f"{A}/clients", json={"name": "Bot", "allowedAgents": [a_id]})).json()
    off = (await apps.admin.post(f"{A}/clients", json={"name": "Off", "enabled": False, "allowedAgents": [a_id]})).json()
    good = {"Authorization": f"Bearer {c['token']}"}
    r = await apps.user.post(f"{U}/run", json={**msg, "appName": a_id})
    assert r.status_code == 401
    r = await apps.user.post(f"{U}/run", json={**msg, "appName": a_id}, headers={"Authorization": "Bearer mgc_wrong"})
    assert r.status_code == 401
    r = await apps.user.post(f"{U}/run", json={**msg, "appName": a_id}, headers={"Authorization": f"Bearer {off['token']}"})
    assert r.status_code == 401 and "disabled" in r.json()["error"]
    r = await apps.user.post(f"{U}/run", json={**msg, "appName": b_id}, headers=good)
    assert r.status_code == 403
    r = await apps.user.get(f"{U}/apps/{b_id}/users/u/sessions", headers=good)
    assert r.status_code == 403
    r = await apps.user.post(f"{U}/run", json={**msg, "appName": a_id}, headers=good)
    assert r.status_code == 200 and texts(r.json()) == ["openai-x says: hi"]
    assert (await apps.user.get(f"{U}/list-apps", headers=good)).json() == ["A"]  # names, as ADK
    assert [a["id"] for a in (await apps.user.get(f"{U}/list-apps?detailed=true", headers=good)).json()] == [a_id]
    models = (await apps.user.get("/v1/models", headers=good)).json()["data"]
    assert [m["magec_id"] for m in models] == [a_id]
    r = await apps.user.post("/v1/chat/completions", headers=good,
                             json={"model": b_id, "messages": [{"role": "user", "content": "x"}]})
    # as OpenAI does for a model outside the project: it does not exist for this client
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert (await apps.user.get("/api/v1/health")).status_code == 200
    # ADK's version route says which ADK and Python run here: callers only, as everything else
    assert (await apps.user.get(f"{U}/version")).status_code == 401
    assert (await apps.user.get(f"{U}/version", headers=good)).json()["language"] == "python"
    # regenerating the token revokes the old one
    new = (await apps.admin.post(f"{A}/clients/{c['id']}/regenerate-token")).json()["token"]
    assert (await apps.user.get(f"{U}/list-apps", headers=good)).status_code == 401
    assert (await apps.user.get(f"{U}/list-apps", headers={"Authorization": f"Bearer {new}"})).status_code == 200



async def test_a_name_shared_by_two_agents_reaches_the_one_the_client_may_use(
    sqlite_apps: Apps, openai_x: FakeServer, openai_y: FakeServer
) -> None:
    """Agent names need not be unique: a client allowed on one of two "Assistant"s reaches that one
    by name on every route (it once got the other one's 403 on the run API and a 404 on /v1)."""
    apps = sqlite_apps
    _, x_id = await make_agent(apps, openai_x, name="Assistant")
    b = (await apps.admin.post(f"{A}/backends", json={"name": "y-backend", "type": "openai", "url": openai_y.url})).json()
    y_id = (await apps.admin.post(f"{A}/agents", json={"name": "Assistant", "llm": {"backend": b["id"], "model": "m-1"}})).json()["id"]
    only_y = (await apps.admin.post(f"{A}/clients", json={"name": "Y", "allowedAgents": [y_id]})).json()
    only_x = (await apps.admin.post(f"{A}/clients", json={"name": "X", "allowedAgents": [x_id]})).json()
    msg = {"userId": "u", "newMessage": {"parts": [{"text": "hi"}]}, "appName": "Assistant"}
    chat = {"model": "Assistant", "messages": [{"role": "user", "content": "hi"}]}
    for client, server_name, app_id in ((only_y, "openai-y", y_id), (only_x, "openai-x", x_id)):
        auth = {"Authorization": f"Bearer {client['token']}"}
        r = await apps.user.post(f"{U}/run", json=msg, headers=auth)
        assert r.status_code == 200 and texts(r.json()) == [f"{server_name} says: hi"]
        r = await apps.user.post("/v1/chat/completions", json=chat, headers=auth)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == f"{server_name} says: hi"
        assert (await apps.user.get("/v1/models/Assistant", headers=auth)).json()["magec_id"] == app_id
        r = await apps.user.get(f"{U}/apps/Assistant/users/u/sessions", headers=auth)
        assert r.status_code == 200 and len(r.json()) == 1
    # a refusal does not name the agent's internal id
    r = await apps.user.post(f"{U}/run", json={**msg, "appName": x_id},
                             headers={"Authorization": f"Bearer {only_y['token']}"})
    assert r.status_code == 403 and x_id not in r.text

async def test_usage_recorded(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    bid, aid = await make_agent(apps, openai_x)
    await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "newMessage": {"parts": [{"text": "count"}]}})
    totals = await apps.ctx.runtime.usage.totals(aid)  # type: ignore[union-attr]
    assert totals and totals[0]["backendId"] == bid and totals[0]["kind"] == "llm"
    assert totals[0]["inputTokens"] > 0 and totals[0]["outputTokens"] > 0


async def test_metrics(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "newMessage": {"parts": [{"text": "m"}]}})
    text = (await apps.user.get("/metrics")).text
    assert 'magec_http_requests_total{app="user",method="POST",route="/api/v1/agent/run",status="200"} 1.0' in text
    assert f'magec_llm_tokens_total{{agent="{aid}"' in text
    admin = (await apps.admin.get("/metrics")).text
    assert 'magec_apps{state="valid"} 1.0' in admin and "magec_config_epoch" in admin
