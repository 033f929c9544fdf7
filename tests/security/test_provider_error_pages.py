"""Hostile: whatever answers at a backend's URL sends an error whose message is a crafted HTML page.

magec reduces an HTML error page (a proxy's, a load balancer's) to its title or heading before it
names it in an error (:func:`magec.backends._errors.plain_text`). Its patterns scanned to the end
of the message from every ``<h1>`` (``<title>``, ``<script>``, ``<``) that opened no element: an
error message of 120 KB of ``<h1>`` held the event loop — every client's requests — for 18 s, and
a provider's JSON error may carry any size of message. The page is now read only as far as an
error's title can be (its first 16 KB), so the reduction costs the same whatever is sent.
Driven through each vendor's wire protocol and the run API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

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
from tests.security.stalls import slowest_health_wait

A = "/api/v1/admin"
FAKES = {"openai": OpenAIFake, "anthropic": AnthropicFake, "gemini": GeminiFake}
PAGE = "<html><head><title>Bad gateway</title></head>" + "<h1>" * 60_000


@pytest.fixture(params=sorted(FAKES))
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeServer]]:
    fake = FAKES[request.param]("pages")

    def respond(req: RecordedRequest) -> Reply | None:
        return Reply.fail(502, PAGE) if req.route == "chat" else None

    fake.responder = respond
    with FakeServer(fake) as s:
        yield request.param, s


async def test_a_crafted_error_page_does_not_hold_the_server(sqlite_apps: Apps, provider: tuple[str, FakeServer]) -> None:
    vendor, server = provider
    apps = sqlite_apps
    b = (await apps.admin.post(f"{A}/backends", json={"name": "p", "type": vendor, "url": server.url,
                                                      "apiKey": "k-1"})).json()
    aid = (await apps.admin.post(f"{A}/agents", json={"name": "p", "llm": {"backend": b["id"], "model": "m"}})).json()["id"]

    async def turn() -> str:
        r = await apps.user.post("/api/v1/agent/run", json={
            "appName": aid, "userId": "u", "sessionId": "s", "newMessage": {"parts": [{"text": "hi"}]}}, timeout=600)
        return r.text

    running = asyncio.create_task(turn())
    slowest = await slowest_health_wait(apps.user, running)  # another caller polling meanwhile
    answer = await running
    assert "Bad gateway" in answer and "<h1>" not in answer, answer[:500]  # the page's title, as before
    assert slowest < 1.0, f"a health check waited {slowest:.1f} s behind the error page"
