"""An MCP server's failure reaches a client's conversation without saying where the server lives.

When a server cannot be reached, the model is told its tools are unavailable (so it can tell the
user), and a failed tool call comes back as a tool result in the client's events. Both used to carry
the transport's own text — ``Connect call failed ('10.0.0.5', 8000)``, a stdio server's working
directory and command — which any client can read: the tool result directly in its events, the
note by asking the model to repeat its instructions. The operator's view (the Admin API's MCP status
and the log) keeps the detail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer

from .conftest import MCP_KEY, HttpMcp, free_port

A = "/api/v1/admin"


async def _client(apps: Any, llm: FakeServer, mcps: list[dict[str, Any]]) -> tuple[str, list[str], dict[str, str]]:
    b = (await apps.admin.post(f"{A}/backends", json={"name": "llm", "type": "openai", "url": llm.url})).json()
    ids = [(await apps.admin.post(f"{A}/mcps", json=m)).json()["id"] for m in mcps]
    aid = (await apps.admin.post(f"{A}/agents", json={"name": "Tooly", "llm": {"backend": b["id"], "model": "m"},
                                                       "mcpServers": ids})).json()["id"]
    token = (await apps.admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": [aid]})).json()["token"]
    return aid, ids, {"Authorization": f"Bearer {token}"}


async def _run(apps: Any, aid: str, headers: dict[str, str], text: str) -> str:
    r = await apps.user.post("/api/v1/agent/run", headers=headers, json={
        "appName": aid, "userId": "u", "sessionId": "s", "newMessage": {"role": "user", "parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    return r.text


async def test_the_unavailable_note_names_no_address_path_or_command(tmp_path: Path, llm: FakeServer) -> None:
    port = free_port()
    down = [
        {"name": "closed-port", "type": "http", "endpoint": f"http://127.0.0.1:{port}/mcp/"},
        {"name": "bad-command", "type": "stdio", "command": "/opt/canary-dir/mcp-server",
         "workDir": str(tmp_path / "canary-workdir")},
    ]
    async with running_apps(tmp_path / "data") as apps:
        aid, ids, headers = await _client(apps, llm, down)
        await _run(apps, aid, headers, "hello")
        system = json.dumps([r.json for r in llm.requests if r.route == "chat"][-1]["messages"][0])
        for name in ("closed-port", "bad-command"):
            assert f"MCP server '{name}' are unavailable" in system
        assert "Connection refused" in system and "No such file or directory" in system  # still says why
        for leak in (str(port), "127.0.0.1", "canary-dir", "canary-workdir", "mcp-server"):
            assert leak not in system, system
        # the operator still sees where it failed
        status = apps.ctx.runtime.mcp.status()  # type: ignore[union-attr]
        assert "canary" in status[ids[1]]["error"]


async def test_a_failed_tool_call_names_no_address(tmp_path: Path, llm: FakeServer) -> None:
    server = HttpMcp()
    try:
        async with running_apps(tmp_path / "data") as apps:
            mcp = {"name": "flaky", "type": "http", "endpoint": server.url, "headers": {"X-Mcp-Key": MCP_KEY}}
            aid, _, headers = await _client(apps, llm, [mcp])
            assert '"result":2' in (await _run(apps, aid, headers, 'call add {"a": 1, "b": 1}')).replace(" ", "")
            server.stop()
            # the tool list is cached: the model calls "add" on a server that is gone
            events = await _run(apps, aid, headers, 'call add {"a": 2, "b": 2}')
            assert "Tool 'add' of MCP server 'flaky' failed" in events
            assert str(server.port) not in events and "127.0.0.1" not in events, events
            sent = json.dumps([r.json for r in llm.requests if r.route == "chat"][-1])
            assert str(server.port) not in sent and "127.0.0.1" not in sent
    finally:
        server.stop()
