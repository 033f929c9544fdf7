"""``magec_turns_total{agent,outcome}`` as Prometheus scrapes it: how turns end, per agent.

A turn that fails streams a ``200`` (the failure is an error event inside it), so
``magec_http_requests_total`` counted a provider outage as success and an operator had nothing to
alert on but the health checks (``magec_backend_up``), which a provider that lists its models
while refusing every chat call passes.
"""

from __future__ import annotations

import re
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
