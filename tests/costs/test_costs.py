"""Costs: usage × the price table, grouped by agent / backend / client / model / day, from real
turns on fake providers (which report token usage); editing a price changes the costs; unknown
models are unpriced (cost 0, flagged); CSV export; bad input is a 400 naming the field."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import AnthropicFake, FakeServer, OpenAIFake, RecordedRequest, Reply
from tests.costs.helpers import A, agent, backend, chat, client, run

#: tokens each fake reports per call (input, output)
OAI_USAGE = (1000, 200)
CLAUDE_USAGE = (4000, 1000)


def replies(usage: tuple[int, int]):  # type: ignore[no-untyped-def]
    def respond(req: RecordedRequest) -> Reply | None:
        return Reply(text="ok", usage=usage) if req.route == "chat" else None

    return respond


@pytest.fixture
def oai() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("oai", responder=replies(OAI_USAGE))) as s:
        yield s


@pytest.fixture
def claude() -> Iterator[FakeServer]:
    with FakeServer(AnthropicFake("claude", responder=replies(CLAUDE_USAGE))) as s:
        yield s


PRICES = {"currency": "EUR", "prices": [
    {"model": "gpt-4o", "input": 2.5, "output": 10.0},
    {"model": "claude-sonnet-4", "input": 3.0, "output": 15.0, "cached": 0.3},
]}


def cost(usage: tuple[int, int], price_in: float, price_out: float) -> float:
    return (usage[0] * price_in + usage[1] * price_out) / 1e6


async def report(apps: Apps, **params: Any) -> dict[str, Any]:
    r = await apps.admin.get(f"{A}/costs", params=params)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def _setup(apps: Apps, oai: FakeServer, claude: FakeServer) -> dict[str, Any]:
    r = await apps.admin.put(f"{A}/costs/prices", json=PRICES)
    assert r.status_code == 200, r.text
    b_oai = await backend(apps, oai, "openai", "OpenAI")
    b_claude = await backend(apps, claude, "anthropic", "Claude")
    writer = await agent(apps, b_oai, "Writer", model="gpt-4o-2024-08-06")  # priced by the gpt-4o prefix
    critic = await agent(apps, b_claude, "Critic", model="claude-sonnet-4-99")
    local = await agent(apps, b_oai, "Mystery", model="my-own-model")
    web = await client(apps, "Web", [writer, critic, local])
    bot = await client(apps, "Bot", [writer])
    # Web: 2 Writer turns (run API + /v1), 1 Critic, 1 Mystery; Bot: 1 Writer; the admin: 1 Critic
    await run(apps, writer, "hi", token=web["token"])
    assert (await chat(apps, writer, "hi", token=web["token"])).status_code == 200
    await run(apps, critic, "hi", token=web["token"])
    await run(apps, local, "hi", token=web["token"])
    await run(apps, writer, "hi", token=bot["token"])
    r = await apps.admin.post(f"{A}/agent/run", json={"appName": critic, "userId": "admin", "sessionId": "a1",
                                                      "newMessage": {"role": "user", "parts": [{"text": "hi"}]}})
    assert r.status_code == 200, r.text
    return {"writer": writer, "critic": critic, "local": local, "web": web["id"], "bot": bot["id"],
            "b_oai": b_oai, "b_claude": b_claude}


async def test_costs_by_agent_backend_client_day(apps: Apps, oai: FakeServer, claude: FakeServer) -> None:
    """On SQLite and PostgreSQL (days are computed in SQL, per dialect)."""
    ids = await _setup(apps, oai, claude)
    writer_cost = cost(OAI_USAGE, 2.5, 10.0)
    critic_cost = cost(CLAUDE_USAGE, 3.0, 15.0)

    by_agent = await report(apps, groupBy="agent")
    assert by_agent["currency"] == "EUR" and by_agent["groupBy"] == ["agent"]
    items = {i["agent"]: i for i in by_agent["items"]}
    assert items[ids["writer"]]["agentName"] == "Writer"
    assert items[ids["writer"]]["calls"] == 3 and items[ids["writer"]]["inputTokens"] == 3 * OAI_USAGE[0]
    assert items[ids["writer"]]["cost"] == pytest.approx(3 * writer_cost)
    assert items[ids["critic"]]["cost"] == pytest.approx(2 * critic_cost)
    mystery = items[ids["local"]]
    assert mystery["cost"] == 0 and mystery["unpriced"] is True and mystery["unpricedModels"] == ["my-own-model"]
    assert mystery["unpricedTokens"] == sum(OAI_USAGE)
    assert items[ids["writer"]]["unpriced"] is False
    assert by_agent["total"]["cost"] == pytest.approx(3 * writer_cost + 2 * critic_cost)
    assert by_agent["total"]["unpriced"] is True
    assert [i["agent"] for i in by_agent["items"]][0] == ids["critic"]  # most expensive first

    by_backend = {i["backend"]: i for i in (await report(apps, groupBy="backend"))["items"]}
    assert by_backend[ids["b_oai"]]["backendName"] == "OpenAI"
    assert by_backend[ids["b_oai"]]["cost"] == pytest.approx(3 * writer_cost)
    assert by_backend[ids["b_claude"]]["cost"] == pytest.approx(2 * critic_cost)

    by_client = {i["client"]: i for i in (await report(apps, group_by="client"))["items"]}
    assert by_client[ids["web"]]["clientName"] == "Web"
    assert by_client[ids["web"]]["cost"] == pytest.approx(2 * writer_cost + critic_cost)
    assert by_client[ids["web"]]["calls"] == 4 and by_client[ids["web"]]["unpriced"] is True
    assert by_client[ids["bot"]]["cost"] == pytest.approx(writer_cost)
    assert by_client[""]["cost"] == pytest.approx(critic_cost)  # the admin's playground turn: no client

    today = datetime.now(UTC).date().isoformat()
    by_day = await report(apps, groupBy="day")
    assert [i["day"] for i in by_day["items"]] == [today]
    assert by_day["items"][0]["cost"] == pytest.approx(3 * writer_cost + 2 * critic_cost)
    both = await report(apps, groupBy="client,agent")
    pairs = {(i["client"], i["agent"]): i["calls"] for i in both["items"]}
    assert pairs[(ids["web"], ids["writer"])] == 2 and pairs[(ids["bot"], ids["writer"])] == 1
    # a date range without usage
    empty = await report(apps, groupBy="agent", **{"from": "2020-01-01", "to": "2020-01-31"})
    assert empty["items"] == [] and empty["total"]["cost"] == 0 and (empty["from"], empty["to"]) == (
        "2020-01-01", "2020-01-31")


async def test_price_edit_changes_costs_and_csv(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer) -> None:
    apps = sqlite_apps
    ids = await _setup(apps, oai, claude)
    before = {i["agent"]: i["cost"] for i in (await report(apps))["items"]}
    # one model's price doubles; the unknown model gets a price
    r = await apps.admin.put(f"{A}/costs/prices/gpt-4o", json={"model": "gpt-4o", "input": 5.0, "output": 20.0})
    assert r.status_code == 200, r.text
    r = await apps.admin.put(f"{A}/costs/prices/my-own-model", json={"model": "my-own-model", "input": 1, "output": 1})
    assert r.status_code == 200, r.text
    table = (await apps.admin.get(f"{A}/costs/prices")).json()
    assert table["currency"] == "EUR" and table["defaults"] is False
    assert {p["model"] for p in table["prices"]} == {"gpt-4o", "claude-sonnet-4", "my-own-model"}
    after = {i["agent"]: i for i in (await report(apps))["items"]}
    assert after[ids["writer"]]["cost"] == pytest.approx(2 * before[ids["writer"]])
    assert after[ids["critic"]]["cost"] == pytest.approx(before[ids["critic"]])
    assert after[ids["local"]]["cost"] == pytest.approx(cost(OAI_USAGE, 1, 1)) and not after[ids["local"]]["unpriced"]
    # removing a price makes the model unpriced again
    assert (await apps.admin.delete(f"{A}/costs/prices/my-own-model")).status_code == 200
    assert (await apps.admin.delete(f"{A}/costs/prices/my-own-model")).status_code == 404
    assert {i["agent"]: i for i in (await report(apps))["items"]}[ids["local"]]["unpriced"] is True

    r = await apps.admin.get(f"{A}/costs/export", params={"groupBy": "agent"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    by_name = {row["agentName"]: row for row in rows}
    assert set(by_name) == {"Writer", "Critic", "Mystery"}
    assert float(by_name["Writer"]["cost"]) == pytest.approx(after[ids["writer"]]["cost"])
    # a small amount in plain decimals (4.6e-05 reads badly in a spreadsheet)
    tiny_price = {"model": "my-own-model", "input": 0.01, "output": 0.01}
    assert (await apps.admin.put(f"{A}/costs/prices/my-own-model", json=tiny_price)).status_code == 200
    r = await apps.admin.get(f"{A}/costs/export", params={"groupBy": "agent"})
    tiny = {row["agentName"]: row["cost"] for row in csv.DictReader(io.StringIO(r.text))}["Mystery"]
    assert re.fullmatch(r"0\.0000\d+", tiny) and float(tiny) == pytest.approx(cost(OAI_USAGE, 0.01, 0.01)), tiny
    assert (await apps.admin.delete(f"{A}/costs/prices/my-own-model")).status_code == 200
    assert by_name["Writer"]["currency"] == "EUR" and by_name["Mystery"]["unpriced"] == "true"
    assert int(by_name["Critic"]["inputTokens"]) == 2 * CLAUDE_USAGE[0]

    # back to the shipped defaults: common models are priced, in USD
    defaults = (await apps.admin.post(f"{A}/costs/prices/reset")).json()
    assert defaults["defaults"] is True and defaults["currency"] == "USD"
    models = {p["model"] for p in defaults["prices"]}
    assert {"gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-flash"} <= models
    assert {i["agent"]: i for i in (await report(apps))["items"]}[ids["writer"]]["cost"] > 0


async def test_bad_input_names_the_field(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    cases = [
        ({"currency": "USD", "prices": [{"model": "a", "input": -1, "output": 1}]}, "prices[0].input"),
        ({"currency": "USD", "prices": [{"model": "a", "input": 1, "output": "x"}]}, "prices[0].output"),
        ({"currency": "USD", "prices": [{"model": "", "input": 1, "output": 1}]}, "prices[0].model"),
        ({"currency": "USD", "prices": [{"model": "a"}, {"model": "A"}]}, "prices[1].model"),
        ({"currency": "", "prices": []}, "currency"),
        ({"currency": "USD", "prices": [{"model": "a", "input": 1, "price": 1}]}, "prices[0].price"),
    ]
    for body, field in cases:
        r = await apps.admin.put(f"{A}/costs/prices", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["field"] == field, (body, r.json())
    r = await apps.admin.put(f"{A}/costs/prices/gpt-4o", json={"model": "other", "input": 1, "output": 1})
    assert r.status_code == 400 and r.json()["field"] == "model"
    for params, field in (({"groupBy": "planet"}, "groupBy"), ({"from": "yesterday"}, "from"),
                          ({"from": "2026-02-01", "to": "2026-01-01"}, "from"), ({"to": "2026-13-01"}, "to")):
        r = await apps.admin.get(f"{A}/costs", params=params)
        assert r.status_code == 400 and r.json()["field"] == field, r.text
    # nothing was stored by the refused writes
    assert (await apps.admin.get(f"{A}/costs/prices")).json()["defaults"] is True
