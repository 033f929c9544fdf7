"""Tool generation in process: a route added to the admin app is a tool at once, called through the app."""

from __future__ import annotations

import json

import mcp_types as types
from fastapi import APIRouter

from magec.admin_mcp.server import AdminMcp
from magec.admin_mcp.tools import tool_name
from magec.api.admin.app import create_admin_app
from magec.testing.apps import Apps


async def test_a_new_route_is_a_new_tool(sqlite_apps: Apps) -> None:
    widgets = APIRouter(prefix="/widgets")

    @widgets.post("/{id}/polish", summary="Polish a widget")
    async def polish(id: str, shine: int = 1) -> dict[str, object]:
        return {"polished": id, "shine": shine}

    mcp = AdminMcp(create_admin_app(sqlite_apps.ctx, routers=[widgets]), sqlite_apps.ctx.config)
    spec = mcp.specs["magec_polish_widget"]
    assert spec.description == "POST /api/v1/admin/widgets/{id}/polish — Polish a widget"
    assert spec.input_schema["required"] == ["id"]
    assert spec.input_schema["properties"]["shine"]["type"] == "integer"
    r = await mcp._call_tool(None, types.CallToolRequestParams(name="magec_polish_widget",
                                                               arguments={"id": "w 1", "shine": 3}))
    assert not r.is_error and json.loads(r.content[0].text) == {"polished": "w 1", "shine": 3}
    missing = await mcp._call_tool(None, types.CallToolRequestParams(name="magec_polish_widget", arguments={}))
    assert missing.is_error and "id: is required" in missing.content[0].text
    unknown = await mcp._call_tool(None, types.CallToolRequestParams(name="magec_nope", arguments={}))
    assert unknown.is_error


async def test_calls_keep_the_admin_api_guards(sqlite_apps: Apps) -> None:
    """Validation, references and 409s are the Admin API's own (one code path)."""
    from magec.server import admin_app

    mcp = AdminMcp(admin_app(sqlite_apps.ctx), sqlite_apps.ctx.config)

    async def call(name: str, **args: object) -> types.CallToolResult:
        return await mcp._call_tool(None, types.CallToolRequestParams(name=name, arguments=args))

    backend = json.loads((await call("magec_create_backend", body={"name": "B", "type": "openai"})).content[0].text)
    agent = await call("magec_create_agent", body={"name": "A", "llm": {"backend": backend["id"], "model": "m"}})
    assert not agent.is_error
    refused = await call("magec_delete_backend", id=backend["id"])
    assert refused.is_error and json.loads(refused.content[0].text)["code"] == "conflict"
    forced = await call("magec_delete_backend", id=backend["id"], force=True)
    assert not forced.is_error
    # read-your-writes: the agent the forced delete touched is already rebuilt without its backend
    got = json.loads((await call("magec_get_agent", id=json.loads(agent.content[0].text)["id"])).content[0].text)
    assert got["llm"]["backend"] == ""


def test_names() -> None:
    collections = {"/agents", "/agent/apps/{a}/users/{u}/sessions"}
    assert tool_name("get", "/agents", {"responses": {"200": {"content": {"application/json": {
        "schema": {"type": "array"}}}}}}, collections) == "magec_list_agents"
    assert tool_name("post", "/agents", {}, collections) == "magec_create_agent"
    assert tool_name("post", "/memory", {}, collections) == "magec_create_memory_provider"
    assert tool_name("put", "/mcps/{id}", {}, collections) == "magec_update_mcp_server"
    assert tool_name("post", "/backends/{id}/test", {}, collections) == "magec_test_backend"
    assert tool_name("post", "/clients/{id}/regenerate-token", {}, collections) == "magec_regenerate_token_client"
    assert tool_name("post", "/agent/apps/{a}/users/{u}/sessions", {}, collections) == \
        "magec_create_agent_app_user_session"
    assert tool_name("get", "/settings/backup", {"x-mcp-tool": "magec_backup_settings"}, collections) == \
        "magec_backup_settings"
