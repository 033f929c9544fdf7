"""Two instances on one PostgreSQL: a change made through one is live on the other (epoch watcher)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer

A = "/api/v1/admin"


async def test_change_on_one_replica_is_live_on_the_other(tmp_path: Path, postgres: Any, openai_x: FakeServer,
                                                           openai_y: FakeServer) -> None:
    url = postgres.url(postgres.create_database())
    async with running_apps(tmp_path / "one", database_url=url) as one, running_apps(tmp_path / "two", database_url=url) as two:
        bx = (await one.admin.post(f"{A}/backends", json={"name": "X", "type": "openai", "url": openai_x.url,
                                                           "apiKey": "sk-x-key-1234"})).json()
        by = (await one.admin.post(f"{A}/backends", json={"name": "Y", "type": "openai", "url": openai_y.url})).json()
        agent = (await one.admin.post(f"{A}/agents", json={"name": "A", "llm": {"backend": bx["id"], "model": "m"}})).json()
        body = {"appName": agent["id"], "userId": "u", "sessionId": "shared", "newMessage": {"parts": [{"text": "hi"}]}}

        async def answer_on_two() -> str:
            for _ in range(100):
                r = await two.user.post("/api/v1/agent/run", json=body)
                if r.status_code == 200:
                    return str(r.json()[-1]["content"]["parts"][0]["text"])
                await asyncio.sleep(0.05)
            raise AssertionError(r.text)

        assert await answer_on_two() == "openai-x says: hi"
        await one.admin.put(f"{A}/agents/{agent['id']}", json={**agent, "llm": {"backend": by["id"], "model": "m"}})
        for _ in range(100):
            if (await answer_on_two()) == "openai-y says: hi":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the change never reached the second instance")
        # sessions are shared through the database too
        history = (await one.user.get(f"/api/v1/agent/apps/{agent['id']}/users/u/sessions/shared")).json()
        assert len(history["events"]) >= 4
