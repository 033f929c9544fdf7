"""``magec_turns_total{agent,outcome}`` as Prometheus scrapes it: how turns end, per agent.

A turn that fails streams a ``200`` (the failure is an error event inside it), so
``magec_http_requests_total`` counted a provider outage as success and an operator had nothing to
alert on but the health checks (``magec_backend_up``), which a provider that lists its models
while refusing every chat call passes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from tests.clients.helpers import A, agent, client

RUN = "/api/v1/agent/run"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("count")) as s:
        yield s


@pytest.fixture
async def apps(tmp_path: Path, llm: FakeServer) -> AsyncIterator[Apps]:
    llm.clear()
    async with running_apps(tmp_path / "data") as a:
        yield a


def sample(text: str, agent_id: str, outcome: str) -> float:
    found = re.search(rf'^magec_turns_total{{agent="{agent_id}",outcome="{outcome}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_turns_are_counted_by_how_they_ended(apps: Apps, llm: FakeServer) -> None:
    r = await apps.admin.post(f"{A}/backends", json={"name": "Flaky", "type": "openai", "url": llm.url,
                                                     "maxAttempts": 1})
    helper = await agent(apps, r.json()["id"], "Helper")
    token = (await client(apps, "direct", [helper]))["token"]
    auth = {"Authorization": f"Bearer {token}"}

    def turn(session: str) -> dict[str, object]:
        return {"appName": helper, "userId": "u", "sessionId": session,
                "newMessage": {"role": "user", "parts": [{"text": "hi"}]}}

    assert (await apps.user.post(RUN, json=turn("a"), headers=auth)).status_code == 200
    llm.script(Reply.fail(500, "upstream broke"), route="chat")
    failed = await apps.user.post(RUN, json=turn("b"), headers=auth)
    # the failure is inside a 200: what the HTTP counters saw as a success
    assert failed.status_code == 200 and [e["errorCode"] for e in failed.json() if e.get("errorCode")] == ["http_error"]
    llm.script(Reply.fail(401, "bad key"), route="chat")
    await apps.user.post(RUN, json=turn("c"), headers=auth)

    scraped = (await apps.user.get("/metrics")).text
    assert sample(scraped, helper, "ok") == 1.0, scraped
    assert sample(scraped, helper, "http_error") == 1.0, scraped
    assert sample(scraped, helper, "auth") == 1.0, scraped
    assert "# HELP magec_turns_total Turns run, by agent or flow id and outcome" in scraped


async def test_refused_turns_are_counted_with_their_code(tmp_path: Path, llm: FakeServer) -> None:
    """A turn refused before it ran — a spent budget, the process' turn limit (on ``/run``, and on
    ``/run_sse`` where it is refused before the stream opens) — is a failed turn to an operator's
    alert: counted with the refusal's code as outcome."""
    llm.clear()
    async with running_apps(tmp_path / "data", config={"max_runs": 1}) as apps:
        r = await apps.admin.post(f"{A}/backends", json={"name": "B", "type": "openai", "url": llm.url})
        helper = await agent(apps, r.json()["id"], "Helper")
        c = await client(apps, "direct", [helper], budget={"amount": 1, "unit": "tokens", "period": "day"})
        auth = {"Authorization": f"Bearer {c['token']}"}
        other = {"Authorization": f"Bearer {(await client(apps, 'direct', [helper]))['token']}"}

        def turn(session: str) -> dict[str, object]:
            return {"appName": helper, "userId": "u", "sessionId": session,
                    "newMessage": {"role": "user", "parts": [{"text": "hi"}]}}

        assert (await apps.user.post(RUN, json=turn("a"), headers=auth)).status_code == 200
        spent = await apps.user.post(RUN, json=turn("b"), headers=auth)
        assert [e["errorCode"] for e in spent.json() if e.get("errorCode")] == ["budget_exceeded"], spent.text
        # another client (no budget) holds the one slot; the next turns are refused with 503
        llm.script(Reply(text="held", delay=1.5), route="chat")
        held = asyncio.create_task(apps.user.post(RUN, json=turn("c"), headers=other))
        deadline = time.monotonic() + 10
        while "magec_runs_in_flight 1.0" not in (await apps.user.get("/metrics")).text:
            assert time.monotonic() < deadline, "the held turn never started"
            await asyncio.sleep(0.05)
        assert (await apps.user.post(RUN, json=turn("d"), headers=other)).status_code == 503
        assert (await apps.user.post(f"{RUN}_sse", json=turn("e"), headers=other)).status_code == 503
        assert (await held).status_code == 200

        scraped = (await apps.user.get("/metrics")).text
        assert sample(scraped, helper, "budget_exceeded") == 1.0, scraped
        assert sample(scraped, helper, "overloaded") == 2.0, scraped
        assert sample(scraped, helper, "ok") == 2.0, scraped
