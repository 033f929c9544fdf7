"""An open circuit breaker is a temporary condition: every surface answers it as one a client retries
after the breaker's cool-down — 503 with ``Retry-After`` (the seconds until the half-open probe),
the error code ``backend_unavailable`` kept — on the run API, ``/v1`` (OpenAI's error shape, which
OpenAI's SDKs back off by) and A2A; webhooks keep Magec's 500 with the same ``Retry-After``. A provider that fails until the breaker opens, then
the client's next call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply

A = "/api/v1/admin"
U = "/api/v1/agent"
COOLDOWN = 40


@pytest.fixture
async def apps(tmp_path: Path) -> AsyncIterator[Apps]:
    async with running_apps(tmp_path / "data", config={"breaker_failures": 2, "breaker_cooldown": COOLDOWN}) as a:
        yield a


def waited(r: Any) -> int:
    """The ``Retry-After`` a client backs off by: whole seconds until the probe, within the
    cool-down (the breaker opened moments ago, so most of it is left)."""
    wait = int(r.headers["retry-after"])
    assert COOLDOWN - 10 <= wait <= COOLDOWN, r.headers
    return wait


async def test_every_surface_says_when_to_come_back(apps: Apps) -> None:
    def broken(req: Any) -> Reply | None:
        return Reply.fail(500, "upstream exploded") if req.route == "chat" else None

    with FakeServer(OpenAIFake("down", responder=broken)) as down:
        b = (await apps.admin.post(f"{A}/backends", json={"name": "Down", "type": "openai", "url": down.url,
                                                          "maxAttempts": 1})).json()
        r = await apps.admin.post(f"{A}/agents", json={"name": "Helper", "llm": {"backend": b["id"], "model": "m"},
                                                        "a2a": {"enabled": True}})
        aid = r.json()["id"]
        token = (await apps.admin.post(f"{A}/clients", json={"name": "app", "allowedAgents": [aid]})).json()["token"]
        hook = (await apps.admin.post(f"{A}/clients", json={"name": "hook", "type": "webhook", "allowedAgents": [aid],
                                                            "config": {"webhook": {"passthrough": True}}})).json()
        auth = {"Authorization": f"Bearer {token}"}

        def run_body(text: str) -> dict[str, Any]:
            return {"appName": aid, "userId": "u", "sessionId": f"s-{text}", "newMessage": {"parts": [{"text": text}]}}

        for i in range(2):  # breakerFailures = 2: the provider's 500s open the breaker
            r = await apps.user.post(f"{U}/run", json=run_body(f"try {i}"), headers=auth)
            assert r.status_code == 200 and r.json()[-1]["errorCode"] == "http_error", r.text
        assert (await apps.admin.get(f"{A}/backends/{b['id']}")).json()["breaker"]["state"] == "open"
        sent = len([q for q in down.requests if q.route == "chat"])

        # the run API: a 503 with the reason, not a 200 holding the error
        r = await apps.user.post(f"{U}/run", json=run_body("now"), headers=auth)
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "backend_unavailable" and "Down is down since" in r.json()["error"], r.text
        waited(r)
        # a stream (its headers already sent) says it in its error event
        r = await apps.user.post(f"{U}/run_sse", json=run_body("stream"), headers=auth)
        [error] = [e for e in r.text.split("\n") if "errorCode" in e]
        assert '"errorCode": "backend_unavailable"' in error and '"retryAfter": ' in error, r.text

        # /v1: OpenAI's error shape, the status and header OpenAI's SDKs back off by
        chat = {"model": "Helper", "messages": [{"role": "user", "content": "hi"}]}
        r = await apps.user.post("/v1/chat/completions", json=chat, headers=auth)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "backend_unavailable", r.text
        waited(r)
        r = await apps.user.post("/v1/chat/completions", json={**chat, "stream": True}, headers=auth)
        assert r.status_code == 503 and r.json()["error"]["code"] == "backend_unavailable", r.text
        waited(r)

        # A2A: a JSON-RPC error carrying the code and the wait, as a refused stream's
        send = {"jsonrpc": "2.0", "id": 7, "method": "message/send", "params": {"message": {
            "role": "user", "messageId": "m1", "parts": [{"kind": "text", "text": "hi"}]}}}
        r = await apps.user.post(f"/api/v1/a2a/{aid}", json=send, headers=auth)
        assert r.status_code == 503, r.text
        data = r.json()["error"]["data"]
        assert data["errorCode"] == "backend_unavailable" and data["retryAfter"] == waited(r), r.text

        # a webhook: Magec's 500, the code and the wait said
        r = await apps.user.post(f"/api/v1/webhooks/{hook['id']}", json={"prompt": "report"},
                                 headers={"Authorization": f"Bearer {hook['token']}"})
        assert r.status_code == 500, r.text
        assert r.json()["ok"] is False and r.json()["code"] == "backend_unavailable", r.text
        waited(r)
        # none of it reached the provider
        assert len([q for q in down.requests if q.route == "chat"]) == sent
