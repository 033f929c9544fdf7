"""Hostile: a client token holder opens ``tasks/resubscribe`` streams without end.

``message/stream`` starts a turn, and every turn takes a slot of ``limits.maxRunsPerClient`` and
``limits.maxRuns`` (magec.runtime.admission). A resubscription starts no turn: it follows a task
(its events, or its stored copy read every second) for as long as the task runs, and none was
counted, so one client could hold any number open while its own ``message/stream`` was refused.
Each stream now takes a slot while it is open: past the limit the answer is 429 with
``Retry-After`` and a JSON-RPC error carrying ``errorCode`` and ``retryAfter``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from magec.testing.fake_providers import FakeServer, Reply
from tests.a2a.conftest import A, make_agent, message, rpc, served_magec


async def test_resubscriptions_count_against_the_clients_limit(tmp_path: Any, llm: FakeServer) -> None:
    async with served_magec(tmp_path / "d", max_runs_per_client=2) as m:
        aid = await make_agent(m.apps, llm)
        c = (await m.apps.admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": [aid]})).json()
        other = (await m.apps.admin.post(f"{A}/clients", json={"name": "o", "allowedAgents": [aid]})).json()
        url = f"{m.url}/api/v1/a2a/{aid}"
        async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {c['token']}"}) as http:
            llm.script(Reply(text="the answer", delay=3))
            params = {**message("question"), "configuration": {"blocking": False}}
            task = (await http.post(url, json=rpc("message/send", params))).json()["result"]  # its turn: slot 1
            follow = rpc("tasks/resubscribe", {"id": task["id"]}, rid=9)
            async with http.stream("POST", url, json=follow) as first:  # slot 2
                assert first.status_code == 200
                lines = first.aiter_lines()
                while not (await anext(lines)).startswith("data:"):
                    pass
                r = await http.post(url, json=follow)
                assert r.status_code == 429, r.text
                assert r.headers["retry-after"] == "1"
                err = r.json()
                assert err["id"] == 9 and "limits.maxRunsPerClient" in err["error"]["message"], err
                assert err["error"]["data"] == {"errorCode": "too_many_requests", "retryAfter": 1}, err
                # another client has its own slots
                r = await http.post(url, json=rpc("tasks/get", {"id": task["id"]}),
                                    headers={"Authorization": f"Bearer {other['token']}"})
                assert r.status_code == 200
            # the dropped stream gave its slot back: the client follows the task again, to its end
            deadline = time.monotonic() + 10
            while True:
                async with http.stream("POST", url, json=follow) as again:
                    if again.status_code == 200:
                        events = [json.loads(line.removeprefix("data:"))["result"]
                                  async for line in again.aiter_lines() if line.startswith("data:")]
                        break
                    await again.aread()
                assert time.monotonic() < deadline, "the dropped stream kept its slot"
                await asyncio.sleep(0.05)
            assert events[-1]["status"]["state"] == "completed", events
            # every slot is free once the streams and the turn ended: two streamed turns at once run
            llm.script(Reply(text="a", delay=0.5), Reply(text="b", delay=0.5))
            answers = await asyncio.gather(*(http.post(url, json=rpc("message/send", message(t))) for t in "xy"))
            assert all(a.json()["result"]["status"]["state"] == "completed" for a in answers), answers
