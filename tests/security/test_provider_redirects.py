"""A provider that answers with a redirect is not followed.

Whatever answers at a backend's URL (a hostile or compromised provider, a hijacked proxy) could
answer ``307 Location: http://127.0.0.1:8081/api/v1/admin/...``: a client that follows it replays
the request, body and method included, against an address of the attacker's choosing — magec's
own admin port on loopback, or anything else inside its network. The vendor SDKs follow redirects
by default; magec's clients must not. Each vendor's chat, and the OpenAI embeddings route, meet a
provider that redirects every request to a canary server; the canary must never see a request and
the client gets one clean error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer

A = "/api/v1/admin"
U = "/api/v1/agent"


class Canary:
    """A server that records every request it gets (it should get none)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.app = FastAPI()

        @self.app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
        async def anything(path: str, request: Request) -> Response:
            self.hits.append(f"{request.method} /{path}")
            return JSONResponse({"ok": True})


@pytest.fixture(scope="module")
def canary() -> Iterator[tuple[Canary, FakeServer]]:
    c = Canary()
    with FakeServer(c.app) as srv:
        yield c, srv


@pytest.fixture(scope="module")
def redirector(canary: tuple[Canary, FakeServer]) -> Iterator[FakeServer]:
    """Answers every request with a 307 (method and body kept) to the same path on the canary."""
    app = FastAPI()
    target = canary[1].url

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def redirect(path: str, request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return Response(status_code=307, headers={"Location": f"{target}/{path}{query}"})

    with FakeServer(app) as srv:
        yield srv


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
async def test_chat_redirect_is_not_followed(
    tmp_path: Path, vendor: str, canary: tuple[Canary, FakeServer], redirector: FakeServer
) -> None:
    seen, _ = canary
    seen.hits.clear()
    async with running_apps(tmp_path / "data") as apps:
        b = await apps.admin.post(f"{A}/backends", json={
            "name": f"{vendor} redirecting", "type": vendor, "url": redirector.url, "apiKey": "k-123",
            "maxAttempts": 1,
        })
        assert b.status_code == 201, b.text
        a = await apps.admin.post(f"{A}/agents", json={"name": "victim", "llm": {"backend": b.json()["id"], "model": "m"}})
        assert a.status_code == 201, a.text
        r = await apps.user.post(f"{U}/run", json={
            "appName": a.json()["id"], "userId": "u", "newMessage": {"role": "user", "parts": [{"text": "hello"}]},
        })
        assert r.status_code == 200, r.text
        events = r.json()
        errors = [e for e in events if e.get("errorCode")]
        assert errors, events
        assert canary[1].url not in r.text  # the redirect target is not echoed to the client
    assert seen.hits == []


async def test_connection_test_redirect_is_not_followed(
    tmp_path: Path, canary: tuple[Canary, FakeServer], redirector: FakeServer
) -> None:
    seen, _ = canary
    seen.hits.clear()
    async with running_apps(tmp_path / "data") as apps:
        b = await apps.admin.post(f"{A}/backends", json={
            "name": "redirecting", "type": "openai", "url": redirector.url, "apiKey": "k-123", "maxAttempts": 1,
        })
        assert b.status_code == 201, b.text
        r = await apps.admin.post(f"{A}/backends/test", json={"id": b.json()["id"]})
        assert r.status_code < 500, r.text
    assert seen.hits == []
