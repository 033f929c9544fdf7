"""Budgets: when a client's or an agent's budget is spent, further turns are refused before they
run — an error event ``budget_exceeded`` on the run API, a 402 with OpenAI's error object on
``/v1``, the message to a bot — and raising the budget lets the very next request through."""

from __future__ import annotations

from typing import Any

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.costs.helpers import A, agent, backend, chat, client, run

USAGE = (600, 400)  # 1000 tokens a call



def refused(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(events) == 1, events
    return events[0]


async def test_client_token_budget_refuses_then_raised_budget_allows(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    b = await backend(apps, oai)
    aid = await agent(apps, b, "Helper")
    c = await client(apps, "Web", [aid], budget={"amount": 1500, "unit": "tokens", "period": "day"})
    token = c["token"]
    assert c["budget"] == {"amount": 1500, "unit": "tokens", "period": "day"}
    calls = len(oai.calls())
    # 1000 of 1500 tokens: allowed; 2000 of 1500: the next one is refused
    assert (await run(apps, aid, "one", token=token))[-1]["content"]["parts"][0]["text"] == "answer"
    assert (await chat(apps, aid, "two", token=token)).status_code == 200
    spent = len(oai.calls())
    assert spent == calls + 2
    event = refused(await run(apps, aid, "three", token=token))
    assert event["errorCode"] == "budget_exceeded" and event["turnComplete"] is True
    assert "budget of client 'Web' is spent" in event["errorMessage"] and "2,000 of 1,500 tokens" in event["errorMessage"]
    r = await chat(apps, aid, "four", token=token)
    assert r.status_code == 402, r.text
    err = r.json()["error"]
    assert err["code"] == "budget_exceeded" and "spent" in err["message"]
    # streamed: the same status before any output
    r = await apps.user.post("/v1/chat/completions", headers={"Authorization": f"Bearer {token}"},
                             json={"model": aid, "stream": True, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 402 and r.json()["error"]["code"] == "budget_exceeded"
    assert len(oai.calls()) == spent, "a refused turn never reaches the provider"
    # the budget status says so
    status = (await apps.admin.get(f"{A}/costs/budgets")).json()
    assert [(s["scope"], s["id"], s["spent"], s["exceeded"]) for s in status] == [("client", c["id"], 2000, True)]
    # other clients and the admin are not limited by this client's budget
    other = await client(apps, "Other", [aid])
    assert (await run(apps, aid, "hi", token=other["token"]))[-1]["content"]["parts"][0]["text"] == "answer"
    # raising the budget: the next request is allowed (live, no restart)
    r = await apps.admin.put(f"{A}/clients/{c['id']}", json={**{k: v for k, v in c.items() if k != "token"},
                                                            "budget": {"amount": 5000, "unit": "tokens", "period": "day"}})
    assert r.status_code == 200, r.text
    assert (await run(apps, aid, "five", token=token))[-1]["content"]["parts"][0]["text"] == "answer"
    assert (await chat(apps, aid, "six", token=token)).status_code == 200
    # removing it: no limit at all
    r = await apps.admin.put(f"{A}/clients/{c['id']}", json={**{k: v for k, v in c.items() if k != "token"},
                                                            "budget": None})
    assert r.status_code == 200 and r.json()["budget"] is None


async def test_agent_cost_budget_covers_flows(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    r = await apps.admin.put(f"{A}/costs/prices", json={"currency": "USD", "prices": [
        {"model": "pricey", "input": 1000, "output": 1000}]})  # 1000 tokens = 1 USD
    assert r.status_code == 200
    b = await backend(apps, oai)
    aid = await agent(apps, b, "Pricey", model="pricey", budget={"amount": 1.5, "period": "month"})
    free = await agent(apps, b, "Free", model="pricey")
    r = await apps.admin.post(f"{A}/flows", json={"name": "Both", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": free}, {"type": "agent", "agentId": aid, "responseAgent": True}]}})
    fid = r.json()["id"]
    await run(apps, aid, "one")  # 1 USD
    await run(apps, aid, "two")  # 2 USD: spent
    event = refused(await run(apps, aid, "three"))
    assert event["errorCode"] == "budget_exceeded"
    assert "monthly budget of agent 'Pricey' is spent (2 of 1.5 USD)" in event["errorMessage"]
    # a flow that runs the agent is refused too; the other agent alone is not
    assert refused(await run(apps, fid, "flow"))["errorCode"] == "budget_exceeded"
    assert (await run(apps, free, "free"))[-1]["content"]["parts"][0]["text"] == "answer"
    # the refused flow run is not a flow run (it never started); the bot surface answers the message
    assert (await apps.admin.get(f"{A}/runs", params={"appName": fid})).json()["total"] == 0
    # a cheaper price is a live change too: 2000 tokens at 0.5 USD = 1 USD < 1.5
    r = await apps.admin.put(f"{A}/costs/prices/pricey", json={"model": "pricey", "input": 500, "output": 500})
    assert r.status_code == 200
    assert (await run(apps, aid, "four"))[-1]["content"]["parts"][0]["text"] == "answer"


async def test_bad_budget_is_a_400_naming_the_field(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    for budget, field in (({"amount": 0}, "budget.amount"), ({"amount": 5, "period": "week"}, "budget.period"),
                          ({"amount": 5, "unit": "euros"}, "budget.unit"), ({"period": "day"}, "budget.amount")):
        r = await apps.admin.post(f"{A}/clients", json={"name": "C", "budget": budget})
        assert r.status_code == 400, r.text
        assert r.json()["field"] == field, r.json()


async def test_webhook_client_answers_with_the_budget_message(sqlite_apps: Apps, oai: FakeServer) -> None:
    """Bots, webhooks and cron go through the conversation gateway: the refusal is their answer."""
    apps = sqlite_apps
    b = await backend(apps, oai)
    aid = await agent(apps, b, "Helper")
    c = await client(apps, "Hook", [aid], type="webhook", config={"webhook": {"passthrough": True}},
                     budget={"amount": 500, "unit": "tokens", "period": "month"})
    headers = {"Authorization": f"Bearer {c['token']}"}
    r = await apps.user.post(f"/api/v1/webhooks/{c['id']}", json={"prompt": "first"}, headers=headers)
    assert r.status_code == 200 and r.json()["response"] == "answer", r.text
    r = await apps.user.post(f"/api/v1/webhooks/{c['id']}", json={"prompt": "second"}, headers=headers)
    assert r.status_code == 402, r.text
    body = r.json()
    assert body["ok"] is False and body["code"] == "budget_exceeded"
    assert "monthly budget of client 'Hook' is spent (1,000 of 500 tokens)" in body["error"]


async def test_responses_api_is_refused_with_402(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    b = await backend(apps, oai)
    aid = await agent(apps, b, "Helper", budget={"amount": 100, "unit": "tokens", "period": "day"})
    first = await apps.user.post("/v1/responses", json={"model": aid, "input": "hi"})
    assert first.status_code == 200, first.text
    r = await apps.user.post("/v1/responses", json={"model": aid, "input": "again"})
    assert r.status_code == 402, r.text
    assert r.json()["error"]["code"] == "budget_exceeded"
    assert "daily budget of agent 'Helper' is spent" in r.json()["error"]["message"]
