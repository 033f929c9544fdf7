"""Agents calling tools of real MCP servers (stdio and Streamable HTTP) end to end through /run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer
from magec.tools.mcp_pool import McpPool

from .conftest import MCP_KEY, SERVER_SCRIPT, HttpMcp, free_port

A = "/api/v1/admin"
U = "/api/v1/agent"


def stdio_server(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"name": "calc-stdio", "type": "stdio", "command": sys.executable, "args": [str(SERVER_SCRIPT)],
            "env": {"MAGEC_MCP_TEST": "v-42"}, "workDir": str(tmp_path), **extra}


async def make_agent(apps: Apps, llm: FakeServer, mcps: list[dict[str, Any]]) -> tuple[str, list[str]]:
    b = (await apps.admin.post(f"{A}/backends", json={"name": "llm", "type": "openai", "url": llm.url,
                                                       "apiKey": "sk-test"})).json()
    ids = []
    for m in mcps:
        r = await apps.admin.post(f"{A}/mcps", json=m)
        assert r.status_code in (200, 201), r.text
        ids.append(r.json()["id"])
    r = await apps.admin.post(f"{A}/agents", json={"name": "Tooly", "llm": {"backend": b["id"], "model": "m-1"},
                                                    "mcpServers": ids})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"], ids


async def run(apps: Apps, aid: str, text: str, session: str = "s1") -> list[dict[str, Any]]:
    r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": session,
                                               "newMessage": {"role": "user", "parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()
    assert not any(e.get("errorCode") for e in events), events
    return events


def parts(events: list[dict[str, Any]], key: str) -> list[Any]:
    return [p[key] for e in events if not e.get("partial") for p in (e.get("content") or {}).get("parts", [])
            if key in p]


def final_text(events: list[dict[str, Any]]) -> str:
    return str(parts(events, "text")[-1])


def chats(llm: FakeServer) -> list[Any]:
    return [r for r in llm.requests if r.route == "chat"]


def offered(req: Any) -> dict[str, Any]:
    return {t["function"]["name"]: t["function"] for t in (req.json or {}).get("tools") or []}


def system_text(req: Any) -> str:
    first = req.json["messages"][0]
    assert first["role"] == "system"
    return first["content"] if isinstance(first["content"], str) else json.dumps(first["content"])


def tool_result(events: list[dict[str, Any]]) -> Any:
    responses = parts(events, "functionResponse")
    assert len(responses) == 1, events
    return responses[0]["response"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_stdio_tool_end_to_end(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        aid, _ = await make_agent(apps, llm, [stdio_server(tmp_path, systemPrompt="Use the calculator for sums.")])
        events = await run(apps, aid, 'call add {"a": 2, "b": 40}')
        # offered to the model with the MCP schema, as an object schema every vendor accepts
        first = chats(llm)[0]
        add = offered(first)["add"]
        params = add["parameters"]
        assert params["type"] == "object" and params["required"] == ["a", "b"]
        assert params["properties"]["a"]["type"] == "integer" and "$schema" not in params
        assert "Add two integers." in add["description"]
        assert {"add", "env_value", "cwd", "pid", "fail"} <= set(offered(first))
        # the MCP systemPrompt is in the system message
        assert "Use the calculator for sums." in system_text(first)
        # executed by the MCP server; the result reached the model, whose answer ends the turn
        assert parts(events, "functionCall")[0]["name"] == "add"
        result = tool_result(events)
        assert result["structuredContent"] == {"result": 42} and result["isError"] is False
        tool_msg = chats(llm)[-1].json["messages"][-1]
        assert tool_msg["role"] == "tool" and "42" in tool_msg["content"]
        assert final_text(events).startswith("fake-llm says: tool result") and "42" in final_text(events)

        # env merged onto the process env, workDir honoured
        assert tool_result(await run(apps, aid, 'call env_value {"name": "MAGEC_MCP_TEST"}'))[
            "structuredContent"] == {"result": "v-42"}
        assert tool_result(await run(apps, aid, 'call env_value {"name": "PATH"}'))[
            "structuredContent"]["result"] == os.environ["PATH"]
        assert tool_result(await run(apps, aid, "call cwd {}"))["structuredContent"] == {"result": str(tmp_path)}
        # one process, reused across requests and sessions
        pid = tool_result(await run(apps, aid, "call pid {}"))["structuredContent"]["result"]
        assert tool_result(await run(apps, aid, "call pid {}", session="s2"))["structuredContent"]["result"] == pid
        assert alive(pid)
        # a tool error is a tool result; the agent still answers
        events = await run(apps, aid, 'call fail {"message": "boom"}')
        assert tool_result(events)["isError"] is True
        assert final_text(events).startswith("fake-llm says: tool result")
    # shutdown closes the MCP connection: the stdio process is gone
    assert not alive(pid)


async def test_http_tool_with_header_end_to_end(tmp_path: Path, llm: FakeServer, http_mcp: HttpMcp) -> None:
    async with running_apps(tmp_path / "data") as apps:
        mcp = {"name": "calc-http", "type": "http", "endpoint": http_mcp.url, "headers": {"X-Mcp-Key": MCP_KEY},
               "systemPrompt": "HTTP tools are here."}
        aid, _ = await make_agent(apps, llm, [mcp])
        http_mcp.seen_headers.clear()
        events = await run(apps, aid, 'call add {"a": 20, "b": 22}')
        first = chats(llm)[0]
        assert offered(first)["add"]["parameters"]["required"] == ["a", "b"]
        assert "HTTP tools are here." in system_text(first)
        assert tool_result(events)["structuredContent"] == {"result": 42}
        assert "42" in final_text(events)
        assert http_mcp.seen_headers and all(h.get("x-mcp-key") == MCP_KEY for h in http_mcp.seen_headers)
        # the session is reused: a second turn does not open a new MCP session (no new initialize)
        before = len(http_mcp.seen_headers)
        await run(apps, aid, 'call add {"a": 1, "b": 1}')
        assert len(http_mcp.seen_headers) - before <= 2


async def test_down_servers_leave_the_agent_answering(tmp_path: Path, llm: FakeServer, http_mcp: HttpMcp) -> None:
    async with running_apps(tmp_path / "data") as apps:
        down: list[dict[str, Any]] = [
            {"name": "closed-port", "type": "http", "endpoint": f"http://127.0.0.1:{free_port()}/mcp/"},
            {"name": "bad-command", "type": "stdio", "command": str(tmp_path / "no-such-mcp-server")},
            {"name": "wrong-key", "type": "http", "endpoint": http_mcp.url, "headers": {"X-Mcp-Key": "nope"}},
            stdio_server(tmp_path, name="works"),
        ]
        aid, ids = await make_agent(apps, llm, down)
        view = (await apps.admin.get(f"{A}/agents/{aid}")).json()
        assert view.get("valid", True) is True
        events = await run(apps, aid, "hello there")
        assert final_text(events) == "fake-llm says: hello there"
        req = chats(llm)[-1]
        assert "add" in offered(req)  # the working server's tools are still offered
        system = system_text(req)
        for name in ("closed-port", "bad-command", "wrong-key"):
            assert f"MCP server '{name}' are unavailable" in system
        assert "'works'" not in system
        pool = apps.ctx.runtime.mcp  # type: ignore[union-attr]
        status = pool.status()
        assert [status[i]["state"] for i in ids] == ["unavailable", "unavailable", "unavailable", "ok"]
        assert "connect" in status[ids[0]]["error"].lower() or "refused" in status[ids[0]]["error"].lower()
        assert "no-such-mcp-server" in status[ids[1]]["error"] or "No such file" in status[ids[1]]["error"]
        assert "401" in status[ids[2]]["error"] or "Unauthorized" in status[ids[2]]["error"]
        # a tool call still works on the healthy server in the same agent
        assert tool_result(await run(apps, aid, 'call add {"a": 1, "b": 2}'))["structuredContent"] == {"result": 3}


async def test_tool_call_on_a_server_that_died_is_a_tool_error(tmp_path: Path, llm: FakeServer) -> None:
    server = HttpMcp()
    try:
        async with running_apps(tmp_path / "data") as apps:
            mcp = {"name": "flaky", "type": "http", "endpoint": server.url, "headers": {"X-Mcp-Key": MCP_KEY}}
            aid, _ = await make_agent(apps, llm, [mcp])
            assert tool_result(await run(apps, aid, 'call add {"a": 1, "b": 1}'))["structuredContent"] == {"result": 2}
            server.stop()
            # the tool list is cached, so the model is offered "add" and calls it: the call fails
            events = await run(apps, aid, 'call add {"a": 2, "b": 2}')
            result = tool_result(events)
            assert "Tool 'add' of MCP server 'flaky' failed" in result["error"]
            assert final_text(events).startswith("fake-llm says: tool result")
            # the failed call drops the cached tool list: the next step finds the server unavailable
            assert "MCP server 'flaky' are unavailable" in system_text(chats(llm)[-1])
            assert offered(chats(llm)[-1]) == {}
            # and the next turn still answers
            assert final_text(await run(apps, aid, "still there?")) == "fake-llm says: still there?"
    finally:
        server.stop()


async def test_insecure_skips_tls_verification(tmp_path: Path, llm: FakeServer, https_mcp: HttpMcp) -> None:
    async with running_apps(tmp_path / "data") as apps:
        base = {"type": "http", "endpoint": https_mcp.url, "headers": {"X-Mcp-Key": MCP_KEY}}
        aid, ids = await make_agent(apps, llm, [{**base, "name": "strict"}, {**base, "name": "lax", "insecure": True}])
        events = await run(apps, aid, 'call add {"a": 3, "b": 4}')
        assert tool_result(events)["structuredContent"] == {"result": 7}
        status = apps.ctx.runtime.mcp.status()  # type: ignore[union-attr]
        assert status[ids[0]]["state"] == "unavailable" and "certificate" in status[ids[0]]["error"].lower()
        assert status[ids[1]]["state"] == "ok"


async def test_rebuilds_reuse_or_replace_connections(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        aid, (mid,) = await make_agent(apps, llm, [stdio_server(tmp_path, systemPrompt="first prompt")])
        pool: McpPool = apps.ctx.runtime.mcp  # type: ignore[union-attr]
        pool.grace = 0
        pid = tool_result(await run(apps, aid, "call pid {}"))["structuredContent"]["result"]
        # an unrelated change rebuilds the runtime but keeps the MCP connection
        await apps.admin.post(f"{A}/agents", json={"name": "Other"})
        assert tool_result(await run(apps, aid, "call pid {}"))["structuredContent"]["result"] == pid
        # so does a prompt-only change of the MCP server, which is applied to the instruction
        r = await apps.admin.put(f"{A}/mcps/{mid}", json={**stdio_server(tmp_path), "systemPrompt": "second prompt"})
        assert r.status_code == 200, r.text
        assert tool_result(await run(apps, aid, "call pid {}"))["structuredContent"]["result"] == pid
        assert "second prompt" in system_text(chats(llm)[-1])
        # a connection change replaces the toolset: the old process is closed, a new one serves
        r = await apps.admin.put(f"{A}/mcps/{mid}", json={**stdio_server(tmp_path), "env": {"MAGEC_MCP_TEST": "v-2"}})
        assert r.status_code == 200, r.text
        events = await run(apps, aid, 'call env_value {"name": "MAGEC_MCP_TEST"}')
        assert tool_result(events)["structuredContent"] == {"result": "v-2"}
        new_pid = tool_result(await run(apps, aid, "call pid {}"))["structuredContent"]["result"]
        assert new_pid != pid
        for _ in range(100):
            if not alive(pid):
                break
            await __import__("asyncio").sleep(0.05)
        assert not alive(pid)
        # unlinking/deleting the server removes its tools
        r = await apps.admin.delete(f"{A}/mcps/{mid}", params={"force": "true"})
        assert r.status_code in (200, 204), r.text
        events = await run(apps, aid, "call pid {}")
        assert offered(chats(llm)[-1]) == {} and not parts(events, "functionCall")
        for _ in range(100):
            if not alive(new_pid):
                break
            await __import__("asyncio").sleep(0.05)
        assert not alive(new_pid)


async def test_same_tool_name_on_two_servers_is_made_unique(tmp_path: Path, llm: FakeServer, http_mcp: HttpMcp) -> None:
    async with running_apps(tmp_path / "data") as apps:
        http = {"name": "remote calc", "type": "http", "endpoint": http_mcp.url, "headers": {"X-Mcp-Key": MCP_KEY}}
        aid, _ = await make_agent(apps, llm, [stdio_server(tmp_path), http])
        events = await run(apps, aid, 'call remote_calc_add {"a": 5, "b": 6}')
        names = set(offered(chats(llm)[0]))
        assert {"add", "remote_calc_add", "pid", "remote_calc_pid"} <= names
        assert tool_result(events)["structuredContent"] == {"result": 11}


async def test_tool_calls_over_run_sse_and_chat_completions(tmp_path: Path, llm: FakeServer,
                                                            http_mcp: HttpMcp) -> None:
    async with running_apps(tmp_path / "data") as apps:
        http = {"name": "calc-http", "type": "http", "endpoint": http_mcp.url, "headers": {"X-Mcp-Key": MCP_KEY}}
        aid, _ = await make_agent(apps, llm, [http])
        body = {"appName": aid, "userId": "u", "sessionId": "sse", "streaming": True,
                "newMessage": {"parts": [{"text": 'call add {"a": 30, "b": 12}'}]}}
        events = []
        async with apps.user.stream("POST", f"{U}/run_sse", json=body) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
        assert tool_result(events)["structuredContent"] == {"result": 42}
        assert "42" in final_text(events)
        r = await apps.user.post("/v1/chat/completions", json={
            "model": aid, "messages": [{"role": "user", "content": 'call add {"a": 7, "b": 8}'}]})
        assert r.status_code == 200, r.text
        answer = r.json()["choices"][0]["message"]["content"]
        assert answer.startswith("fake-llm says: tool result") and "15" in answer
