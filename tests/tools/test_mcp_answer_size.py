"""A hostile MCP server cannot make magec read an answer of any size.

Whatever answers at an MCP server's endpoint chooses how much it sends. The backends' answers are
read up to ``maxResponseBytes``; the MCP client read each answer whole, into memory, so a tool call
answered without end took the server's memory with it. The real test MCP server answers
``initialize`` and ``tools/list``; its ``tools/call`` answers are replaced by a JSON body that does
not end, and the agent's tool call fails as any failed call does.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import anyio
from starlette.types import Message, Receive, Scope, Send

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer

from .conftest import MCP_KEY, HttpMcp

A = "/api/v1/admin"
CHUNK = 1024 * 1024
TOTAL = 96 * CHUNK


class EndlessToolCalls:
    """ASGI: ``tools/call`` requests get an endless JSON answer (until the caller hangs up); every
    other request goes to the real MCP server. ``sent``: the bytes of each endless answer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sent: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = json.loads(body or b"{}")
        if not (isinstance(request, dict) and request.get("method") == "tools/call"):
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})  # chunked: no length to refuse
        head = b'{"jsonrpc": "2.0", "id": %s, "result": {"content": [{"type": "text", "text": "' % (
            json.dumps(request.get("id")).encode())
        await send({"type": "http.response.body", "body": head, "more_body": True})
        n = 0
        try:
            while n < TOTAL:
                await send({"type": "http.response.body", "body": b"x" * CHUNK, "more_body": True})
                n += CHUNK
                # uvicorn drops what is sent after the caller hung up: ask whether it did
                with contextlib.suppress(TimeoutError), anyio.fail_after(0):
                    if (await receive())["type"] == "http.disconnect":
                        return
            await send({"type": "http.response.body", "body": b'"}]}}', "more_body": False})
        finally:
            self.sent.append(n)


async def test_a_tool_call_answered_without_end_is_cut(tmp_path: Path, llm: FakeServer) -> None:
    wrapper: list[EndlessToolCalls] = []

    def endless(app: Any) -> EndlessToolCalls:
        wrapper.append(EndlessToolCalls(app))
        return wrapper[0]

    server = HttpMcp(wrap=endless)
    try:
        async with running_apps(tmp_path / "data") as apps:
            b = (await apps.admin.post(f"{A}/backends", json={"name": "llm", "type": "openai", "url": llm.url})).json()
            m = (await apps.admin.post(f"{A}/mcps", json={"name": "liar", "type": "http", "endpoint": server.url,
                                                          "headers": {"X-Mcp-Key": MCP_KEY}})).json()
            aid = (await apps.admin.post(f"{A}/agents", json={
                "name": "Tooly", "llm": {"backend": b["id"], "model": "m"}, "mcpServers": [m["id"]]})).json()["id"]
            r = await apps.user.post("/api/v1/agent/run", json={
                "appName": aid, "userId": "u", "sessionId": "s",
                "newMessage": {"role": "user", "parts": [{"text": 'call add {"a": 1, "b": 1}'}]}})
            assert r.status_code == 200, r.text[:300]
            assert "Tool 'add' of MCP server 'liar' failed" in r.text, r.text[:2000]
    finally:
        server.stop()
    assert wrapper and wrapper[0].sent, "the tool was never called"
    assert wrapper[0].sent[0] < 48 * CHUNK, f"magec read {wrapper[0].sent[0] // CHUNK} MiB of the tool's answer"
