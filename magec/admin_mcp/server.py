"""The admin MCP server: every Admin API operation as an MCP tool, over Streamable HTTP.

Contract:

* Served at ``http://<server.mcp.host>:<server.mcp.port>/mcp`` (default port 8082) by
  ``magec serve`` when ``server.mcp.enabled`` is true, built on the official ``mcp`` SDK (low-level
  :class:`mcp.server.lowlevel.Server`, stateless Streamable HTTP with JSON answers).
* **Auth** is the Admin API's: ``Authorization: Bearer <server.adminPassword>``, checked by the same
  :class:`~magec.api.auth.AdminAuth` (wrong passwords count towards the same per-IP lockout, 429).
  Without a password the server only listens on loopback (:meth:`Config.mcp_bind_host` refuses
  anything else) and the SDK's DNS-rebinding protection checks ``Host``/``Origin``.
* **Tools** are generated from the admin app's OpenAPI schema (:mod:`magec.admin_mcp.tools`) when
  the server is built, so they follow the routes; there is no hand-written tool.
* **Calls** go through the admin app itself, in process (an ASGI request with the admin password),
  so validation, guards, errors and read-your-writes are exactly those of HTTP. A 4xx/5xx answer is
  a tool result with ``isError: true`` and the API's JSON error as text; a JSON answer is returned
  as text (and as ``structuredContent`` when it is an object); a binary answer (a backup archive)
  as an embedded base64 blob with its MIME type.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any
from urllib.parse import quote

import httpx
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from magec.admin_mcp.tools import ToolSpec, generate
from magec.api.auth import AdminAuth
from magec.api.errors import to_response
from magec.config import Config
from magec.errors import ConfigError, MagecError

log = logging.getLogger(__name__)
PATH = "/mcp"
INSTRUCTIONS = (
    "Administer this magec server: every Admin API operation is a tool named magec_<verb>_<resource> "
    "(e.g. magec_list_agents, magec_create_agent, magec_test_backend, magec_update_settings). Bodies "
    "go in the 'body' argument, path and query parameters by name. Errors come back as the API's "
    "JSON error with isError set."
)


class AdminMcp:
    """The tools of ``admin`` (the admin FastAPI app) behind an MCP server; :meth:`asgi` serves it."""

    def __init__(self, admin: Any, config: Config) -> None:
        self.config = config
        self.specs: dict[str, ToolSpec] = {s.name: s for s in generate(admin.openapi())}
        # the admin app's own check: a wrong password counts towards one lockout whichever port it
        # was tried on (a count of its own gave a guesser 5 a minute here on top of the admin port's)
        shared = getattr(getattr(admin, "state", None), "admin_auth", None)
        self.auth = shared if isinstance(shared, AdminAuth) else AdminAuth(config.admin_password, config.trusted_proxies)
        headers = {"Authorization": f"Bearer {config.admin_password}"} if config.admin_password else {}
        # in process: the very app that serves the Admin API port, so nothing differs from HTTP
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=admin, client=("127.0.0.1", 0)),
            base_url="http://127.0.0.1",
            headers=headers,
            timeout=httpx.Timeout(600),
        )
        self.server: Server[Any] = Server(
            "magec-admin",
            version="1",
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    def tools(self) -> list[types.Tool]:
        return [
            types.Tool(name=s.name, description=s.description, input_schema=s.input_schema)
            for s in self.specs.values()
        ]

    async def _list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:  # noqa: ARG002
        return types.ListToolsResult(tools=self.tools())

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:  # noqa: ARG002
        spec = self.specs.get(params.name)
        if spec is None:
            return _error(f"unknown tool {params.name!r}")
        try:
            response = await self.call(spec, dict(params.arguments or {}))
        except _BadArguments as e:
            return _error(str(e))
        return _result(spec, response)

    async def call(self, spec: ToolSpec, args: dict[str, Any]) -> httpx.Response:
        """Send the operation of ``spec`` with ``args`` to the admin app."""
        path = spec.path
        for name in spec.path_params:
            value = args.get(name)
            if value is None or value == "":
                raise _BadArguments(f"{name}: is required")
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        query = {q: _query_value(args[q]) for q in spec.query_params if args.get(q) is not None}
        kwargs: dict[str, Any] = {}
        if spec.body == "raw":
            try:
                kwargs["content"] = base64.b64decode(str(args.get("contentBase64", "")), validate=True)
            except (binascii.Error, ValueError):
                raise _BadArguments("contentBase64: is not valid base64") from None
            kwargs["headers"] = {"Content-Type": spec.body_type}
        elif spec.body in ("json", "free") and "body" in args:
            kwargs["json"] = args["body"]
        return await self.http.request(spec.method, path, params=query, **kwargs)

    def asgi(self) -> ASGIApp:
        """The Streamable HTTP app (``/mcp``) behind the admin-password check."""
        host = self.config.mcp_bind_host()
        if self.config.admin_password:
            # every request carries the password: a rebound DNS name cannot supply it
            security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        else:
            # loopback only, no password: the SDK's DNS-rebinding defence (Host and Origin checked)
            security = TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
                allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
            )
        app = self.server.streamable_http_app(
            streamable_http_path=PATH, stateless_http=True, json_response=True, transport_security=security, host=host
        )
        return _BearerAuth(app, self.auth)

    async def close(self) -> None:
        await self.http.aclose()


class _BadArguments(Exception):
    pass


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _error(message: str) -> types.CallToolResult:
    body = json.dumps({"error": message, "code": ConfigError.code})
    return types.CallToolResult(content=[types.TextContent(type="text", text=body)], is_error=True)


def _result(spec: ToolSpec, r: httpx.Response) -> types.CallToolResult:
    ctype = r.headers.get("content-type", "").split(";", 1)[0].strip()
    if r.status_code >= 400:
        return types.CallToolResult(content=[types.TextContent(type="text", text=r.text)], is_error=True)
    if r.status_code == 204 or not r.content:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps({"status": r.status_code}))]
        )
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            data = r.json()
        except ValueError:
            data = None
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=r.text)],
            structured_content=data if isinstance(data, dict) else None,
        )
    if ctype.startswith("text/"):  # incl. a run_sse stream, collected whole
        return types.CallToolResult(content=[types.TextContent(type="text", text=r.text)])
    disposition = r.headers.get("content-disposition", "")
    blob = types.BlobResourceContents(
        uri=f"magec://admin{spec.path}", mime_type=ctype or "application/octet-stream",
        blob=base64.b64encode(r.content).decode(),
    )
    summary = {"contentType": ctype, "bytes": len(r.content), "contentDisposition": disposition}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(summary)), types.EmbeddedResource(type="resource", resource=blob)]
    )


class _BearerAuth:
    """``Authorization: Bearer <admin password>`` on every HTTP request (lifespan passes through)."""

    def __init__(self, app: ASGIApp, auth: AdminAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                await self.auth.verify(Request(scope))
            except MagecError as err:
                await to_response(err)(scope, receive, send)
                return
        await self.app(scope, receive, send)
