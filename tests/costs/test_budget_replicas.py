"""Budgets across replicas: two magec processes on one PostgreSQL share the ``usage`` table, so a
client's spend on one replica refuses its turns on the other within the documented bound (the
writer's 0.5 s flush + the 2 s counter refresh), with no restart and no admin action."""

from __future__ import annotations

import time
from pathlib import Path

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer
from magec.testing.services import Postgres
from tests.costs.helpers import agent, backend, client, run

BOUND = 0.5 + 2.0  # docs/costs.md: usage flush + counter refresh



async def test_spend_on_one_replica_refuses_on_the_other(postgres: Postgres, oai: FakeServer, tmp_path: Path) -> None:
    url = postgres.url(postgres.create_database())
    async with running_apps(tmp_path / "a", database_url=url) as one, running_apps(tmp_path / "b", database_url=url) as two:
        b = await backend(one, oai)
        aid = await agent(one, b, "Helper")
        c = await client(one, "Web", [aid], budget={"amount": 1500, "unit": "tokens", "period": "day"})
        token = c["token"]
        # replica one spends it: 2000 of 1500 tokens, and refuses the next turn at once
        await run(one, aid, "one", token=token)
        await run(one, aid, "two", token=token)
        assert (await run(one, aid, "x", token=token))[-1]["errorCode"] == "budget_exceeded"
        spent_at = time.monotonic()
        # replica two refuses within the bound (each allowed turn here only spends more)
        while True:
            last = (await run(two, aid, "more", token=token, session="w"))[-1]
            if last.get("errorCode") == "budget_exceeded":
                break
            assert time.monotonic() - spent_at < BOUND + 1.0, "replica two did not see the spend in time"
        assert "budget of client 'Web' is spent" in last["errorMessage"]
        # raising the budget on replica one: replica two allows the very next request
        body = {k: v for k, v in c.items() if k != "token"}
        r = await one.admin.put(f"/api/v1/admin/clients/{c['id']}", json={**body, "budget": {
            "amount": 100000, "unit": "tokens", "period": "day"}})
        assert r.status_code == 200, r.text
        assert (await run(two, aid, "three", token=token, session="w"))[-1]["content"]["parts"][0]["text"] == "answer"
