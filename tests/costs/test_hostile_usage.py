"""Token counts from a provider are the provider's word: a hostile or broken one cannot poison costs.

Whatever answers at a backend's URL reports usage. Negative counts, fractions, strings, booleans,
NaN and numbers far beyond any model's context (``10**30``: an overflow of every SQL integer
column) must neither break the turn nor reach the usage table and the cost report: such a count
is taken as unknown (0). Driven through each vendor's wire protocol and both chat routes; read back
through the Admin API's cost report.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import (
    AnthropicFake,
    FakeServer,
    GeminiFake,
    OpenAIFake,
    RecordedRequest,
    Reply,
)
from tests.costs.helpers import A, agent, backend, chat, run

BAD: list[Any] = [-5, 10**30, 2**63, 1.5, "12", True, float("nan"), float("inf"), None, [3], {"n": 1}]
FAKES = {"openai": OpenAIFake, "anthropic": AnthropicFake, "gemini": GeminiFake}


@pytest.fixture(params=sorted(FAKES))
def hostile(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeServer]]:
    """A provider of each vendor whose n-th chat answer reports usage ``(BAD[n], BAD[n])``."""
    counter = {"n": 0}

    def respond(req: RecordedRequest) -> Reply | None:
        if req.route != "chat":
            return None
        bad = BAD[counter["n"] % len(BAD)]
        counter["n"] += 1
        return Reply(text="ok", usage=(bad, bad))

    with FakeServer(FAKES[request.param]("hostile", responder=respond)) as s:
        yield request.param, s


async def test_hostile_usage_is_ignored(sqlite_apps: Apps, hostile: tuple[str, FakeServer]) -> None:
    vendor, server = hostile
    apps = sqlite_apps
    r = await apps.admin.put(f"{A}/costs/prices", json={"currency": "EUR", "prices": [
        {"model": "m-1", "input": 1000.0, "output": 1000.0}]})
    assert r.status_code == 200, r.text
    aid = await agent(apps, await backend(apps, server, vendor), "victim")
    # google-genai validates usage against its own types: a count it cannot read as an integer
    # (1.5, NaN, a list) makes the whole answer unreadable, a clean malformed_response — never a 500
    lenient = vendor == "gemini"
    for i, _ in enumerate(BAD):
        if i % 2:
            events = await run(apps, aid, f"turn {i}", session=f"s{i}")
            errors = [e.get("errorCode") for e in events if e.get("errorCode")]
            if lenient and errors == ["malformed_response"]:
                continue
            assert not errors, (BAD[i], events)
            assert any("ok" in str(e.get("content")) for e in events), events
        else:
            answer = await chat(apps, aid, f"turn {i}")
            if lenient and answer.status_code == 502 and answer.json()["error"]["code"] == "malformed_response":
                continue
            assert answer.status_code == 200, (BAD[i], answer.text)
            usage = answer.json()["usage"]
            assert all(isinstance(v, int) and 0 <= v < 10**9 for v in usage.values()), usage
    r = await apps.admin.get(f"{A}/costs", params={"groupBy": "agent"})
    assert r.status_code == 200, r.text
    total = r.json()["total"]
    for key in ("inputTokens", "outputTokens", "cost"):
        if key in total:
            assert math.isfinite(total[key]) and 0 <= total[key] < 10**9, total
    # no count in BAD is believable: every call counts 0 tokens (google-genai reads "12" and True
    # as 12 and 1 itself, which are believable counts; nothing else of BAD gets through)
    assert total["inputTokens"] == (13 if lenient else 0), total
