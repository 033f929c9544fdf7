"""The admin MCP server of a real ``magec serve``, driven by the official ``mcp`` client."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from magec.config import Config, load_config
from magec.errors import ConfigError
from magec.resources import KINDS
from magec.testing.server import ServerProcess
from magec.testing.services import free_port

PASSWORD = "mcp-admin-pw"
A = "/api/v1/admin"


def snake(text: str) -> str:
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text).lower()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    port = free_port()
    proc = ServerProcess(tmp_path_factory.mktemp("mcp"), admin_password=PASSWORD,
                         server_config={"mcp": {"enabled": True, "port": port}})
    proc.mcp_port = port  # type: ignore[attr-defined]
    with proc:
        yield proc


@contextlib.asynccontextmanager
async def session(server: ServerProcess, password: str = PASSWORD) -> AsyncIterator[ClientSession]:
    url = f"http://127.0.0.1:{server.mcp_port}/mcp"  # type: ignore[attr-defined]
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {password}"}, timeout=120) as http, \
            streamable_http_client(url, http_client=http) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s


def text(result: Any) -> Any:
    return json.loads(result.content[0].text)


async def test_every_admin_operation_is_a_tool(server: ServerProcess) -> None:
    spec = httpx.get(f"{server.admin_url}/openapi.json", headers={"Authorization": f"Bearer {PASSWORD}"}, timeout=60).json()
    routes = {(m.upper(), p) for p, ops in spec["paths"].items() if p.startswith(f"{A}/")
              for m in ops if m in ("get", "post", "put", "patch", "delete")}
    async with session(server) as s:
        tools = (await s.list_tools()).tools
    names = [t.name for t in tools]
    assert len(names) == len(set(names)), "tool names are unique"
    assert all(re.fullmatch(r"magec_[a-z0-9_]+", n) for n in names)
    # one tool per route of the Admin API: a new route shows up as a new tool
    described = {tuple(str(t.description).split(" ", 2)[:2]) for t in tools}
    assert described == routes
    for kind, model in KINDS.items():
        one = snake(model.singular)
        assert {f"magec_list_{snake(kind)}", f"magec_get_{one}", f"magec_create_{one}", f"magec_update_{one}",
                f"magec_delete_{one}"} <= set(names), kind
    assert {"magec_get_settings", "magec_update_settings", "magec_test_backend", "magec_backup_settings",
            "magec_restore_settings", "magec_get_overview", "magec_regenerate_token_client"} <= set(names)
    create = next(t for t in tools if t.name == "magec_create_agent")
    # the input schema is the pydantic model's
    assert create.input_schema["required"] == ["body"]
    assert "systemPrompt" in create.input_schema["properties"]["body"]["properties"]


async def test_create_list_delete_round_trip(server: ServerProcess) -> None:
    async with session(server) as s:
        made = await s.call_tool("magec_create_agent", {"body": {"name": "From MCP", "systemPrompt": "Hi."}})
        assert not made.is_error, made.content
        agent = text(made)
        assert agent["name"] == "From MCP" and agent["id"]
        listed = text(await s.call_tool("magec_list_agents", {}))
        assert agent["id"] in [a["id"] for a in listed]
        # the same write is visible over HTTP at once (one code path)
        r = httpx.get(f"{server.admin_url}{A}/agents/{agent['id']}", headers={"Authorization": f"Bearer {PASSWORD}"},
                      timeout=60)
        assert r.status_code == 200 and r.json()["systemPrompt"] == "Hi."
        got = await s.call_tool("magec_get_agent", {"id": agent["id"]})
        assert got.structured_content["id"] == agent["id"]
        gone = await s.call_tool("magec_delete_agent", {"id": agent["id"]})
        assert not gone.is_error and text(gone) == {"status": 204}
        assert agent["id"] not in [a["id"] for a in text(await s.call_tool("magec_list_agents", {}))]
        missing = await s.call_tool("magec_get_agent", {"id": agent["id"]})
        assert missing.is_error and "not found" in text(missing)["error"]
        # validation is the Admin API's: a 400 naming the field
        bad = await s.call_tool("magec_create_backend", {"body": {"name": "x", "type": "nope"}})
        assert bad.is_error and text(bad)["field"] == "type"


async def test_settings_and_backup_tools(server: ServerProcess) -> None:
    async with session(server) as s:
        settings = text(await s.call_tool("magec_get_settings", {}))
        r = await s.call_tool("magec_update_settings", {"body": {**settings, "temporaryDir": "/tmp/mcp-x"}})
        assert not r.is_error and text(r)["temporaryDir"] == "/tmp/mcp-x"
        backup = await s.call_tool("magec_backup_settings", {})
        assert not backup.is_error
        blob = backup.content[1].resource
        assert blob.mime_type == "application/gzip"
        archive = base64.b64decode(blob.blob)
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            assert "manifest.json" in tar.getnames()
        dry = await s.call_tool("magec_restore_settings", {"contentBase64": blob.blob, "dryRun": True})
        assert not dry.is_error and text(dry)["status"] == "dryRun"


async def test_wrong_bearer_is_refused(server: ServerProcess) -> None:
    url = f"http://127.0.0.1:{server.mcp_port}/mcp"  # type: ignore[attr-defined]
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    for headers in ({"Authorization": "Bearer wrong"}, {}):
        r = httpx.post(url, json=init, headers={**headers, "Accept": "application/json, text/event-stream"}, timeout=60)
        assert r.status_code == 401, r.text
        assert "admin password required" in r.json()["error"]
    with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces the 401 as its own error type
        async with session(server, password="wrong") as s:
            await s.list_tools()


def test_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("server: {mcp: {enabled: true, port: 9999}}\n")
    loaded = load_config(cfg, env={})
    assert loaded.mcp_enabled and loaded.mcp_port == 9999 and loaded.mcp_bind_host() == "127.0.0.1"
    assert not load_config(None, env={}).mcp_enabled and Config().mcp_port == 8082
    with pytest.raises(ConfigError, match="without an admin password"):
        Config(mcp_enabled=True, mcp_host="0.0.0.0").mcp_bind_host()
    assert Config(admin_password="x", host="0.0.0.0").mcp_bind_host() == "0.0.0.0"


def test_serve_refuses_an_exposed_mcp_server_without_password(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "x", server_config={"mcp": {"enabled": True, "host": "0.0.0.0",
                                                                "port": free_port()}})
    with pytest.raises(RuntimeError, match="exited early") as info:
        proc.start(timeout=60)
    assert "refusing to expose the admin MCP server" in str(info.value)
    assert proc.proc is not None and proc.proc.returncode == 2


def test_guesses_on_the_mcp_port_count_with_the_admin_ports(tmp_path: Path) -> None:
    """5 wrong admin passwords a minute from one address, whichever port they are tried on: the MCP
    port kept a lockout count of its own, so a guesser had 5 a minute there on top of the admin
    port's (and the one locked out of the admin port went on guessing through MCP)."""
    port = free_port()
    with ServerProcess(tmp_path / "d", admin_password=PASSWORD,
                       server_config={"mcp": {"enabled": True, "port": port}}) as srv:
        url = f"http://127.0.0.1:{port}/mcp"
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        accept = {"Accept": "application/json, text/event-stream"}
        for i in range(3):  # guesses on the admin port…
            r = httpx.get(f"{srv.admin_url}{A}/backends", headers={"Authorization": f"Bearer guess-{i}"}, timeout=60)
            assert r.status_code == 401, r.text
        for i in range(3, 5):  # …and on the MCP port, five in all
            r = httpx.post(url, json=init, headers={**accept, "Authorization": f"Bearer guess-{i}"}, timeout=60)
            assert r.status_code == 401, r.text
        # the sixth is refused on either port, the right password too, until the minute has passed
        r = httpx.post(url, json=init, headers={**accept, "Authorization": "Bearer guess-5"}, timeout=60)
        assert r.status_code == 429 and "retry-after" in r.headers, r.text
        r = httpx.get(f"{srv.admin_url}{A}/backends", headers={"Authorization": f"Bearer {PASSWORD}"}, timeout=60)
        assert r.status_code == 429, r.text
