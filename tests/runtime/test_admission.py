"""No collapse: beyond the configured concurrent-turn limits a new turn is refused at once with
503/429 and ``Retry-After`` on every HTTP surface, and served again as soon as a slot frees up.
Driven as a client: slow turns held by the provider, the in-flight count read on ``/metrics``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from tests.runtime.test_run_api import make_agent, texts

U = "/api/v1/agent"
A = "/api/v1/admin"


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Apps]:
    async with running_apps(tmp_path / "data", config={"max_runs": 2, "max_runs_per_client": 1}) as apps:
        yield apps


@pytest.fixture
def slow() -> AsyncIterator[FakeServer]:
    with FakeServer(OpenAIFake("slow", api_key="sk-x-key-1234")) as s:
        yield s  # type: ignore[misc]


async def _in_flight(apps: Apps) -> float:
    found = re.search(r"^magec_runs_in_flight (\S+)$", (await apps.user.get("/metrics")).text, re.M)
    assert found
    return float(found.group(1))


async def _until_in_flight(apps: Apps, n: int) -> None:
    # a client watching a gauge: the held turns have reached the provider
    for _ in range(400):
        if await _in_flight(apps) == n:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never {n} turns in flight")


def _run(aid: str, user: str, text: str) -> dict[str, object]:
    return {"appName": aid, "userId": user, "newMessage": {"role": "user", "parts": [{"text": text}]}}


async def test_over_the_process_limit_is_503_with_retry_after(limited: Apps, slow: FakeServer) -> None:
    _, aid = await make_agent(limited, slow)
    slow.script(Reply(text="held one", delay=1.5), Reply(text="held two", delay=1.5))
    held = [asyncio.create_task(limited.user.post(f"{U}/run", json=_run(aid, f"u{i}", "wait"))) for i in range(2)]
    await _until_in_flight(limited, 2)
    r = await limited.user.post(f"{U}/run", json=_run(aid, "u3", "one more"))
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    assert r.json()["code"] == "overloaded" and "limits.maxRuns" in r.json()["error"]
    r = await limited.user.post(f"{U}/run_sse", json=_run(aid, "u3", "one more"))
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    r = await limited.user.post("/v1/chat/completions", json={"model": aid, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 503 and r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "overloaded"
    r = await limited.user.post("/v1/chat/completions", json={"model": aid, "stream": True,
                                                              "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    done = await asyncio.gather(*held)
    assert sorted(t for d in done for t in texts(d.json())) == ["held one", "held two"]
    chats = [r for r in slow.requests if r.path.endswith("/chat/completions")]
    assert len(chats) == 2  # nothing refused reached the provider (a failure's health re-check may list models)
    assert await _in_flight(limited) == 0
    r = await limited.user.post(f"{U}/run", json=_run(aid, "u3", "now"))  # the slot is free again
    assert r.status_code == 200 and texts(r.json()) == ["slow says: now"]


async def test_one_client_over_its_limit_is_429_others_go_on(limited: Apps, slow: FakeServer) -> None:
    _, aid = await make_agent(limited, slow)
    one = (await limited.admin.post(f"{A}/clients", json={"name": "one", "allowedAgents": [aid]})).json()
    two = (await limited.admin.post(f"{A}/clients", json={"name": "two", "allowedAgents": [aid]})).json()
    h1, h2 = ({"Authorization": f"Bearer {c['token']}"} for c in (one, two))
    slow.script(Reply(text="held", delay=1.5))
    held = asyncio.create_task(limited.user.post(f"{U}/run", json=_run(aid, "a", "wait"), headers=h1))
    await _until_in_flight(limited, 1)
    r = await limited.user.post(f"{U}/run", json=_run(aid, "b", "me too"), headers=h1)
    assert r.status_code == 429 and r.headers["retry-after"] == "1" and r.json()["code"] == "too_many_requests"
    r = await limited.user.post(f"{U}/run", json=_run(aid, "c", "hello"), headers=h2)
    assert r.status_code == 200 and texts(r.json()) == ["slow says: hello"]
    assert texts((await held).json()) == ["held"]
    r = await limited.user.post(f"{U}/run", json=_run(aid, "b", "again"), headers=h1)
    assert r.status_code == 200


async def test_per_backend_limit_counts_every_agent_on_it(tmp_path: Path, slow: FakeServer,
                                                          openai_x: FakeServer) -> None:
    async with running_apps(tmp_path / "data", config={"max_runs_per_backend": 1}) as apps:
        bid, a1 = await make_agent(apps, slow, name="One")
        a2 = (await apps.admin.post(f"{A}/agents", json={"name": "Two", "llm": {"backend": bid, "model": "m"}})).json()["id"]
        _, other = await make_agent(apps, openai_x, name="Elsewhere")
        slow.script(Reply(text="held", delay=1.5))
        held = asyncio.create_task(apps.user.post(f"{U}/run", json=_run(a1, "u", "wait")))
        await _until_in_flight(apps, 1)
        r = await apps.user.post(f"{U}/run", json=_run(a2, "u", "same backend"))
        assert r.status_code == 503 and "maxRunsPerBackend" in r.json()["error"]
        r = await apps.user.post(f"{U}/run", json=_run(other, "u", "other backend"))
        assert r.status_code == 200 and texts(r.json()) == ["openai-x says: other backend"]
        assert texts((await held).json()) == ["held"]


async def test_a_webhook_over_its_limits_says_when_to_come_back(limited: Apps, slow: FakeServer) -> None:
    """A webhook refused by a limit is 429 / 503 with ``Retry-After``, as every other route: the
    automation posting it backs off and sends again (the body keeps Magec's ``ok: false``)."""
    _, aid = await make_agent(limited, slow)
    hook = (await limited.admin.post(f"{A}/clients", json={"name": "hook", "type": "webhook", "allowedAgents": [aid],
                                                             "config": {"webhook": {"passthrough": True}}})).json()
    h = {"Authorization": f"Bearer {hook['token']}"}
    slow.script(Reply(text="held", delay=1.5), Reply(text="held too", delay=1.5))
    held = asyncio.create_task(limited.user.post(f"/api/v1/webhooks/{hook['id']}", json={"prompt": "wait"}, headers=h))
    await _until_in_flight(limited, 1)
    r = await limited.user.post(f"/api/v1/webhooks/{hook['id']}", json={"prompt": "me too"}, headers=h)
    assert r.status_code == 429 and r.headers["retry-after"] == "1", r.text
    assert r.json()["ok"] is False and r.json()["code"] == "too_many_requests"
    two = (await limited.admin.post(f"{A}/clients", json={"name": "two", "allowedAgents": [aid]})).json()
    other = asyncio.create_task(limited.user.post(f"{U}/run", json=_run(aid, "u", "fill the process"),
                                                  headers={"Authorization": f"Bearer {two['token']}"}))
    await _until_in_flight(limited, 2)
    hook2 = (await limited.admin.post(f"{A}/clients", json={"name": "hook2", "type": "webhook", "allowedAgents": [aid],
                                                              "config": {"webhook": {"passthrough": True}}})).json()
    r = await limited.user.post(f"/api/v1/webhooks/{hook2['id']}", json={"prompt": "full"},
                                headers={"Authorization": f"Bearer {hook2['token']}"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    assert r.json()["ok"] is False and r.json()["code"] == "overloaded"
    assert (await held).json()["response"] == "held"
    assert texts((await other).json()) == ["held too"]
