"""A provider's text holding a lone UTF-16 surrogate reaches the client as U+FFFD.

JSON can spell a lone surrogate (``"\\ud800"``), and Python decodes it into a ``str`` that no UTF-8
encoder accepts: a provider (or whatever answers at its URL) sending one in its answer text broke
the answer's encoding — a 500, a stream cut mid-way, a session event that could not be written.
Such a code point is no character: it becomes U+FFFD (the replacement character), as any UTF-8
decoder makes of broken input, and the answer goes on. Driven through each vendor's wire protocol
and the run API (plain and streamed) and ``/v1/chat/completions`` (plain and streamed).
"""

from __future__ import annotations

import json
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

A = "/api/v1/admin"
U = "/api/v1/agent"
FAKES = {"openai": OpenAIFake, "anthropic": AnthropicFake, "gemini": GeminiFake}
TEXT = "left \ud800 middle \udfff right"


@pytest.fixture(params=sorted(FAKES))
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeServer]]:
    fake = FAKES[request.param]("surrogates")

    def respond(req: RecordedRequest) -> Reply | None:
        if req.route != "chat":
            return None
        return Reply.fail(400, TEXT) if fake.last_user_text(req) == "fail" else Reply(text=TEXT)

    fake.responder = respond
    with FakeServer(fake) as s:
        yield request.param, s


def clean(body: str) -> None:
    """The answer arrived, with U+FFFD where the surrogates were (as JSON text, escaped or not)."""
    assert "left" in body and "right" in body, body
    assert "\\ud800" not in body.lower() and "\\udfff" not in body.lower(), body
    assert "\ufffd" in body or "\\ufffd" in body.lower(), body


async def test_lone_surrogates_from_a_provider(sqlite_apps: Apps, provider: tuple[str, FakeServer]) -> None:
    vendor, server = provider
    apps = sqlite_apps
    b = await apps.admin.post(f"{A}/backends", json={"name": "s", "type": vendor, "url": server.url, "apiKey": "k-1"})
    assert b.status_code == 201, b.text
    a = await apps.admin.post(f"{A}/agents", json={"name": "s", "llm": {"backend": b.json()["id"], "model": "m"}})
    assert a.status_code == 201, a.text
    aid = a.json()["id"]
    run = {"appName": aid, "userId": "u", "sessionId": "s1", "newMessage": {"role": "user", "parts": [{"text": "hi"}]}}
    r = await apps.user.post(f"{U}/run", json=run)
    assert r.status_code == 200, r.text
    assert not [e for e in r.json() if e.get("errorCode")], r.text
    clean(r.text)
    async with apps.user.stream("POST", f"{U}/run_sse", json={**run, "sessionId": "s2", "streaming": True}) as s:
        assert s.status_code == 200
        body = (await s.aread()).decode()
    assert '"errorCode"' not in body, body
    clean(body)
    chat = {"model": aid, "messages": [{"role": "user", "content": "hi"}]}
    r = await apps.user.post("/v1/chat/completions", json=chat)
    assert r.status_code == 200, r.text
    clean(r.text)
    async with apps.user.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as s:
        assert s.status_code == 200
        body = (await s.aread()).decode()
    assert body.rstrip().endswith("data: [DONE]"), body
    assert '"error"' not in body, body
    clean(body)
    # the stored conversation reads back, replaced the same way
    r = await apps.user.get(f"{U}/apps/{aid}/users/u/sessions/s1")
    assert r.status_code == 200, r.text
    clean(json.dumps(r.json(), ensure_ascii=False))
    # and in a provider's error message, which the client reads in the error event
    r = await apps.user.post(f"{U}/run", json={**run, "sessionId": "s3",
                                               "newMessage": {"role": "user", "parts": [{"text": "fail"}]}})
    assert r.status_code == 200, r.text
    errors = [e for e in r.json() if e.get("errorCode")]
    assert errors and errors[0]["errorCode"] != "internal_error", r.text
    clean(errors[0]["errorMessage"])
