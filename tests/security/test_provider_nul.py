"""A NUL character from a provider does not break the turn, on SQLite or PostgreSQL.

Clients cannot send NUL (every JSON route refuses it: 400), but a provider's answer is written by
whatever answers at the backend's URL. PostgreSQL's ``text`` and ``jsonb`` refuse ``\\u0000``, so
an answer holding one could not be stored: the conversation audit lost the whole batch of turns
it was written with. The answer reaches the client, the stored session reads back and the audit
holds the turns (NUL as U+FFFD), on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, RecordedRequest, Reply

A = "/api/v1/admin"
U = "/api/v1/agent"


@pytest.fixture
def nul_provider() -> Iterator[FakeServer]:
    def respond(req: RecordedRequest) -> Reply | None:
        return Reply(text="before\x00after") if req.route == "chat" else None

    with FakeServer(OpenAIFake("nul", responder=respond)) as s:
        yield s


async def test_nul_in_a_provider_answer(apps: Apps, nul_provider: FakeServer) -> None:
    b = await apps.admin.post(f"{A}/backends", json={"name": "nul", "type": "openai", "url": nul_provider.url})
    assert b.status_code == 201, b.text
    a = await apps.admin.post(f"{A}/agents", json={"name": "nul", "llm": {"backend": b.json()["id"], "model": "m"}})
    assert a.status_code == 201, a.text
    aid = a.json()["id"]
    r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": "s1",
                                               "newMessage": {"role": "user", "parts": [{"text": "hi"}]}})
    assert r.status_code == 200, r.text
    assert not [e for e in r.json() if e.get("errorCode")], r.text
    assert "before" in r.text and "after" in r.text
    r = await apps.user.get(f"{U}/apps/{aid}/users/u/sessions/s1")
    assert r.status_code == 200, r.text
    assert "before" in r.text and "after" in r.text, r.text
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    # the conversation audit wrote both turns (a refused row used to drop its whole batch)
    r = await apps.admin.get(f"{A}/conversations/export", params={"format": "jsonl"})
    assert r.status_code == 200, r.text
    assert r.text.count("before") >= 2, r.text
