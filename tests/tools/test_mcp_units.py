"""Pure pieces of the MCP tools: names, schemas, errors, connection params, the agent hook."""

from __future__ import annotations

import os

import pytest

from magec.config_view.snapshot import StoreSnapshot
from magec.resources import Agent, McpServer, Settings
from magec.tools.mcp import (
    AgentMcpTools,
    HttpClientFactory,
    connection_params,
    describe_error,
    object_schema,
    safe_tool_name,
    unique_name,
)
from magec.tools.mcp_hook import agent_toolsets
from magec.tools.mcp_pool import McpPool


def test_safe_and_unique_names() -> None:
    assert safe_tool_name("add") == "add"
    assert safe_tool_name("files.read/v2") == "files_read_v2"
    assert safe_tool_name("9lives") == "t_9lives"
    assert safe_tool_name("") == "tool"
    assert len(safe_tool_name("x" * 100)) == 64
    assert unique_name("add", {"add", "add_2"}) == "add_3"
    assert unique_name("y" * 64, {"y" * 64}) == "y" * 62 + "_2"


def test_object_schema() -> None:
    assert object_schema(None) == {"type": "object", "properties": {}}
    assert object_schema({"type": "string"}) == {"type": "object", "properties": {}}
    assert object_schema({"$schema": "x", "type": "object"}) == {"type": "object", "properties": {}}
    s = object_schema({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a", "zz", 3]})
    assert s == {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert "required" not in object_schema({"properties": {}, "required": ["q"]})


def test_describe_error_finds_the_root_cause() -> None:
    try:
        try:
            try:
                raise ConnectionRefusedError(111, "Connect call failed")
            except OSError as e:
                raise ExceptionGroup("unhandled errors in a TaskGroup", [RuntimeError("wrapped")]) from e
        except ExceptionGroup as g:
            raise ConnectionError("Failed to create MCP session: x") from g
    except ConnectionError as top:
        assert describe_error(top) == "ConnectionRefusedError: [Errno 111] Connect call failed"
    assert describe_error(ValueError("sk-abcdefghijklmnopqrstuvwxyz123456 leaked")).count("abcdefghijklmnop") == 0


def test_connection_params() -> None:
    stdio = connection_params(McpServer(id="s", name="s", type="stdio", command="srv", args=["-x"],
                                        env={"A": "1"}, work_dir="/tmp"))
    params = stdio.server_params  # type: ignore[union-attr]
    assert params.command == "srv" and params.args == ["-x"] and str(params.cwd) == "/tmp"
    assert params.env is not None and params.env["A"] == "1" and params.env["PATH"] == os.environ["PATH"]
    http = connection_params(McpServer(id="h", name="h", endpoint="https://x/mcp", headers={"K": "v"}, insecure=True))
    assert http.url == "https://x/mcp" and http.headers == {"K": "v"}  # type: ignore[union-attr]
    factory = http.httpx_client_factory  # type: ignore[union-attr]
    assert isinstance(factory, HttpClientFactory) and factory.verify is False


def snapshot(*servers: McpServer) -> StoreSnapshot:
    return StoreSnapshot(epoch=1, settings=Settings(), mcp_servers={s.id: s for s in servers})


async def test_hook_links_existing_servers_once_and_pool_reuses_or_retires() -> None:
    one = McpServer(id="m1", name="one", type="stdio", command="srv", system_prompt="Prompt one.")
    two = McpServer(id="m2", name="two", type="stdio", command="srv2")
    pool = McpPool(grace=0)
    snap = snapshot(one, two)
    agent = Agent(id="a", name="a", mcp_servers=["m1", "gone", "m2", "m1"])
    tools, paragraphs = agent_toolsets(pool, agent, snap)
    assert paragraphs == ["Prompt one."]
    assert len(tools) == 1 and isinstance(tools[0], AgentMcpTools)
    first = tools[0].toolsets
    assert [t.server_id for t in first] == ["m1", "m2"]
    assert agent_toolsets(pool, Agent(id="b", name="b"), snap) == ([], [])
    # same connection settings -> same toolset (also for other agents); a rename is applied in place
    renamed = McpServer(id="m1", name="uno", type="stdio", command="srv", system_prompt="Other.")
    pool.sync(snapshot(renamed, two).mcp_servers)
    assert pool.toolset(renamed) is first[0] and first[0].label == "uno"
    # changed connection settings or removal -> retired and closed
    changed = McpServer(id="m1", name="uno", type="stdio", command="srv", args=["--new"])
    pool.sync(snapshot(changed).mcp_servers)
    assert pool.toolset(changed) is not first[0]
    await pool.close()
    assert first[0].closed and first[1].closed
    assert await first[0].get_tools() == []


@pytest.mark.parametrize("verify", [True, False])
def test_http_client_factory(verify: bool) -> None:
    factory = HttpClientFactory(verify=verify)
    client = factory(headers={"X": "1"})
    assert client.headers["X"] == "1"


def _processes_with(arg: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if arg.encode() in f.read().split(b"\0"):
                        with open(f"/proc/{entry}/stat") as st:
                            if st.read().split(")")[-1].split()[0] != "Z":
                                pids.append(int(entry))
            except OSError:
                continue
    return pids


async def test_hung_stdio_server_times_out_backs_off_and_is_reaped() -> None:
    import asyncio
    import time

    from magec.tools.mcp import MagecMcpToolset

    marker = "31.4159"  # `sleep` never speaks MCP
    ts = MagecMcpToolset(McpServer(id="h", name="hung", type="stdio", command="sleep", args=[marker]),
                         connect_timeout=1.0, retry_after=30)
    t0 = time.monotonic()
    assert await ts.get_tools() == []
    assert time.monotonic() - t0 < 5
    assert ts.state == "unavailable" and ts.error is not None and "timed out" in ts.error
    t1 = time.monotonic()
    assert await ts.get_tools() == [] and time.monotonic() - t1 < 0.1  # backing off: no new attempt
    await ts.close()
    for _ in range(100):
        if not _processes_with(marker):
            break
        await asyncio.sleep(0.1)
    assert _processes_with(marker) == []


async def test_stdio_tool_calls_may_outlast_the_connect_timeout() -> None:
    import sys
    from pathlib import Path

    from magec.tools.mcp import MagecMcpToolset

    script = str(Path(__file__).with_name("mcp_server.py"))
    ts = MagecMcpToolset(McpServer(id="s", name="s", type="stdio", command=sys.executable, args=[script]),
                         connect_timeout=5.0, call_timeout=30.0)
    try:
        tools = {t.name: t for t in await ts.get_tools()}
        result = await tools["slow"].run_async(args={"seconds": 6}, tool_context=None)  # type: ignore[arg-type]
        assert result["structuredContent"] == {"result": "slept 6.0"}, result
    finally:
        await ts.close()
