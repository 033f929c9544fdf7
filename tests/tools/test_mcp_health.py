"""A broken MCP server is visible to an operator: the test route, the server's health, the agent's.

Everything goes through the Admin and User APIs (clients' view); what happens in the background
after a turn is awaited by polling an HTTP view against a deadline.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from magec.backends.health import agent_health
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer

from .test_mcp_agents import A, final_text, make_agent, run, stdio_server

BROKEN = {"name": "Broken", "type": "stdio", "command": "/nonexistent/bin"}


async def poll(apps: Apps, path: str, ready: Any, timeout: float = 20.0) -> dict[str, Any]:
    """GET ``path`` until ``ready(body)`` or the deadline (then the last body, for the assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        r = await apps.admin.get(path)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if ready(body) or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.1)


async def create(apps: Apps, body: dict[str, Any]) -> str:
    r = await apps.admin.post(f"{A}/mcps", json=body)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def test_testing_a_broken_stdio_server_says_why(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "data") as apps:
        mid = await create(apps, BROKEN)
        assert (await apps.admin.get(f"{A}/mcps/{mid}")).json()["health"] == {
            "status": "unknown", "lastError": None, "checkedAt": None}
        r = await apps.admin.post(f"{A}/mcps/{mid}/test")
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["ok"] is False and "tools" not in result
        assert "/nonexistent/bin" in result["error"] or "No such file" in result["error"], result
        assert isinstance(result["latencyMs"], float)
        # the outcome is the server's health now (list and item views alike)
        health = (await apps.admin.get(f"{A}/mcps/{mid}")).json()["health"]
        assert health["status"] == "down" and health["lastError"] == result["error"] and health["checkedAt"]
        listed = {m["id"]: m for m in (await apps.admin.get(f"{A}/mcps")).json()}
        assert listed[mid]["health"] == health
        # an unknown server is a 404 in the usual error shape, not a test result
        r = await apps.admin.post(f"{A}/mcps/no-such-id/test")
        assert r.status_code == 404 and "error" in r.json()


async def test_a_test_error_never_shows_a_secret(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "data") as apps:
        r = await apps.admin.post(f"{A}/secrets", json={"name": "mcp bin", "key": "MCP_BIN_TOKEN",
                                                         "value": "tok-Zq8r1sXw9"})
        assert r.status_code in (200, 201), r.text
        # the secret is expanded into the command, so the spawn error would name it
        mid = await create(apps, {**BROKEN, "command": "/nonexistent/${MCP_BIN_TOKEN}",
                                  "env": {"CLEAR_KEY": "clear-Kp3v7mQ2"}})
        result = (await apps.admin.post(f"{A}/mcps/{mid}/test")).json()
        assert result["ok"] is False and result["error"]
        assert "tok-Zq8r1sXw9" not in str(result) and "clear-Kp3v7mQ2" not in str(result)
        assert "tok-Zq8r1sXw9" not in (await apps.admin.get(f"{A}/mcps/{mid}")).text


async def test_testing_a_working_server_lists_its_tools(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "data") as apps:
        mid = await create(apps, stdio_server(tmp_path))
        r = await apps.admin.post(f"{A}/mcps/{mid}/test")
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["ok"] is True and "error" not in result, result
        tools = {t["name"]: t["description"] for t in result["tools"]}
        assert {"add", "env_value", "cwd", "pid", "slow", "fail"} <= set(tools)
        assert "Add two integers." in tools["add"]
        assert result["latencyMs"] > 0
        health = (await apps.admin.get(f"{A}/mcps/{mid}")).json()["health"]
        assert health["status"] == "up" and health["lastError"] is None and health["checkedAt"]
        # new connection settings: what was observed no longer applies
        r = await apps.admin.put(f"{A}/mcps/{mid}", json={**stdio_server(tmp_path), "args": ["-c", "pass"]})
        assert r.status_code == 200, r.text
        assert (await apps.admin.get(f"{A}/mcps/{mid}")).json()["health"]["status"] == "unknown"


async def test_an_agent_using_a_broken_server_is_degraded_after_a_turn(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        aid, (broken, works) = await make_agent(apps, llm, [BROKEN, stdio_server(tmp_path, name="works")])
        before = (await apps.admin.get(f"{A}/agents/{aid}")).json()["health"]
        assert before["status"] in ("ok", "unknown"), before
        # the turn answers, without the broken server's tools
        assert final_text(await run(apps, aid, "hello")) == "fake-llm says: hello"
        agent = await poll(apps, f"{A}/agents/{aid}", lambda a: a["health"]["status"] == "degraded")
        reason = agent["health"]["reason"] or ""
        assert agent["health"]["status"] == "degraded", agent["health"]
        assert reason.startswith("MCP server 'Broken' is unavailable: ") and "its tools are not offered" in reason
        assert "/nonexistent/bin" in reason or "No such file" in reason
        assert "'works'" not in reason
        # the servers as the runtime saw them during that turn
        down = (await apps.admin.get(f"{A}/mcps/{broken}")).json()["health"]
        assert down["status"] == "down" and down["lastError"] and down["checkedAt"]
        assert (await apps.admin.get(f"{A}/mcps/{works}")).json()["health"]["status"] == "up"
        # unlinking the broken server makes the agent well again
        r = await apps.admin.delete(f"{A}/agents/{aid}/mcps/{broken}")
        assert r.status_code in (200, 204), r.text
        agent = await poll(apps, f"{A}/agents/{aid}", lambda a: a["health"]["status"] != "degraded")
        assert agent["health"]["status"] in ("ok", "unknown"), agent["health"]


def test_agent_health_ranks_mcp_below_backend_trouble() -> None:
    agent = {"llm": {"backend": "b1", "fallbacks": [{"backend": "b2"}]}}
    names = {"b1": "main", "b2": "spare"}
    down = [("Broken", {"status": "down", "lastError": "FileNotFoundError: x"}), ("Fine", {"status": "up"})]
    mcp_reason = "MCP server 'Broken' is unavailable: FileNotFoundError: x; its tools are not offered"
    # backends fine (or not checked yet): degraded by the MCP server
    for status in ("up", "unknown"):
        assert agent_health(agent, {"b1": {"status": status}}, names, down) == {
            "status": "degraded", "reason": mcp_reason}
    # only servers that are down count
    assert agent_health(agent, {"b1": {"status": "up"}}, names, down[1:])["status"] == "ok"
    # a degraded backend keeps its reason first
    both = agent_health(agent, {"b1": {"status": "degraded", "lastError": "slow"}}, names, down)
    assert both == {"status": "degraded", "reason": f"LLM backend main degraded: slow; {mcp_reason}"}
    # fallback and unreachable outrank it
    assert agent_health(agent, {"b1": {"status": "down"}, "b2": {"status": "up"}}, names, down)["status"] == "fallback"
    assert agent_health(agent, {"b1": {"status": "down"}, "b2": {"status": "down"}}, names, down)[
        "status"] == "backend_unreachable"
