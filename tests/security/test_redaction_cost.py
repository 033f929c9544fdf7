"""Hostile: a client token holder sends text built to make redaction slow.

Every turn's texts go through :func:`magec.redact.redact` before the conversation audit stores them
(on by default), in a task of the server's event loop. Two of its key-shape patterns (a header
value after ``authorization``/``api-key``, a ``Bearer``/``Basic`` credential) checked that the value
was no ``...`` placeholder by scanning the rest of the word from every place a match could start:
a 150 KB message of ``api-key:`` repeated, ending in ``...``, held the event loop — every other
client's requests — for 5 s; the 2 MiB a body may hold, for about 12 minutes. The placeholder check now
looks a bounded distance ahead, so redaction stays linear in the text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from magec.redact import redact
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.security.stalls import slowest_health_wait

A = "/api/v1/admin"

#: texts whose redaction was quadratic (~150 KB each: 3 to 5 s apiece before the fix)
HOSTILE = [
    "authorization=" * 11_000 + "...",
    "api-key:" * 20_000 + "...",
]


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("llm")) as s:
        yield s


async def test_a_message_built_for_redaction_does_not_hold_the_server(sqlite_apps: Apps, llm: FakeServer) -> None:
    apps = sqlite_apps
    b = (await apps.admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": llm.url})).json()
    aid = (await apps.admin.post(f"{A}/agents", json={"name": "ag", "llm": {"backend": b["id"], "model": "m"}})).json()["id"]
    token = (await apps.admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": [aid]})).json()["token"]

    async def turn_then_audit() -> None:
        for i, text in enumerate(HOSTILE):
            r = await apps.user.post("/api/v1/agent/run", headers={"Authorization": f"Bearer {token}"}, json={
                "appName": aid, "userId": "u", "sessionId": f"s{i}", "newMessage": {"parts": [{"text": text}]}},
                timeout=600)
            assert r.status_code == 200, r.text[:300]
        # the admin reads the audit: every turn recorded (and so redacted) by then
        listed = await apps.admin.get(f"{A}/conversations?perspective=user", timeout=600)
        assert listed.status_code == 200 and listed.json()["total"] == len(HOSTILE), listed.text[:300]

    running = asyncio.create_task(turn_then_audit())
    slowest = await slowest_health_wait(apps.user, running)  # another caller polling meanwhile
    await running
    assert slowest < 1.0, f"a health check waited {slowest:.1f} s behind the audit's redaction"


def test_placeholders_and_credentials_are_told_apart_as_before() -> None:
    # a documentation placeholder stays, a credential goes, whatever precedes them
    assert redact("send Authorization: Bearer mgc_... to it") == "send Authorization: Bearer mgc_... to it"
    assert redact("x-api-key: sk-proj...") == "x-api-key: sk-proj..."
    assert redact("authorization=abc...authorization=secretvalue1") == "authorization=abc...authorization=***"
    assert redact("Authorization: Bearer abcdefgh123") == "Authorization: Bearer ***"
    assert redact("curl -H 'api-key: 0123456789abcdef'") == "curl -H 'api-key: ***'"
