"""One ADK toolset per MCP server resource, on ADK's ``McpToolset`` over the official ``mcp`` SDK.

ADK 2.13's ``McpToolset`` supports ``mcp`` 2.x (it resolves the renamed SDK names itself), pools one
client session per toolset, and turns tool-call failures into ``{"error": ...}`` results. On top of
it, :class:`MagecMcpToolset` adds what a live, reconfigurable platform needs:

* **Transports from the resource**: ``http`` = Streamable HTTP with the resource's headers on every
  request and TLS verification off when ``insecure``; ``stdio`` = ``command``/``args`` spawned in
  ``workDir`` with a **minimal environment** (:func:`stdio_env`): the harmless basics from this
  process (``PATH``, ``HOME``, locale, time zone, temp dir, ...) plus the resource's own ``env`` —
  never magec's secrets (``MAGEC_*``, provider keys, anything else in its environment).
* **Lazy, cached, never fatal**: nothing connects until the first model step offers the tools; the
  tool list is cached ``tools_ttl`` seconds and listed by one caller at a time (concurrent turns
  share the result); a server that cannot be reached (or listed) within ``connect_timeout`` makes
  :meth:`get_tools` return ``[]`` — never raise — records a readable :attr:`error`, tells the model
  in the system instruction that those tools are unavailable, and is retried only after
  ``retry_after`` seconds (doubling per consecutive failure, at most 5 minutes), so a dead server
  costs one connection attempt per window, not one per turn. A tool call that fails in transport
  drops the cached list, so the next model step re-checks the server.
* **Tool calls never crash a run**: any failure (server gone, transport error, toolset closed)
  becomes a ``{"error": "..."}`` tool result naming the server; an MCP ``isError`` result is
  passed to the model as is.
* **Model-safe declarations**: tool names are reduced to ``[A-Za-z0-9_-]`` (max 64, starting with a
  letter or ``_``; unique within the toolset; the MCP server is still called by its own name) and
  parameter schemas are always ``{"type": "object", "properties": {...}}`` without ``$schema``.
* **Timeouts**: ``connect_timeout`` bounds connecting + initializing + listing; a tool call may run
  ``call_timeout`` seconds (stdio and HTTP alike).
* **No Google side channels**: ADK's pooled HTTP sessions would probe Google Application Default
  Credentials for mTLS on every new loop; that is switched off (MCP servers here are arbitrary hosts).
* :meth:`close` is final: it ends the session (terminating a stdio subprocess) and later calls get
  no tools / an error result instead of silently reconnecting.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import ssl
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx2
from google.adk.agents.readonly_context import ReadonlyContext
from google.adk.models.llm_request import LlmRequest
from google.adk.tools.base_tool import BaseTool
from google.adk.tools.base_toolset import BaseToolset
from google.adk.tools.mcp_tool.mcp_session_manager import (
    MCPSessionManager,
    StdioConnectionParams,
    StreamableHTTPConnectionParams,
)
from google.adk.tools.mcp_tool.mcp_tool import McpTool
from google.adk.tools.mcp_tool.mcp_toolset import McpToolset
from google.adk.tools.tool_context import ToolContext
from google.genai import types
from mcp import StdioServerParameters
from typing_extensions import override

from magec.backends._errors import no_address
from magec.backends._limits import cap_response
from magec.errors import MalformedResponseError
from magec.procenv import minimal_env
from magec.redact import redact
from magec.resources import McpServer
from magec.tools import stderr_log

log = logging.getLogger(__name__)


#: the most magec reads of an HTTP MCP server's answer to one message (as a backend's default
#: ``maxResponseBytes``)
MAX_ANSWER_BYTES = 32 * 1024 * 1024


def _too_large() -> MalformedResponseError:
    return MalformedResponseError(f"the MCP server's answer is larger than {MAX_ANSWER_BYTES} bytes")


class HttpClientFactory:
    """Builds the MCP SDK's HTTP client (its default timeouts), with TLS verification on or off.

    Remembers the last HTTP error status it saw (:attr:`last_error_status`), because the SDK reports
    a rejected request only as "Server returned an error response".
    """

    def __init__(self, *, verify: bool = True) -> None:
        self.verify = verify
        self.last_error_status: str | None = None

    def __call__(self, headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None,
                 auth: httpx2.Auth | None = None) -> httpx2.AsyncClient:
        kwargs: dict[str, Any] = {
            "timeout": timeout or httpx2.Timeout(30.0, read=300.0),
            "verify": self.verify,
            "event_hooks": {"response": [self._on_response]},
        }
        if headers is not None:
            kwargs["headers"] = headers
        if auth is not None:
            kwargs["auth"] = auth
        return httpx2.AsyncClient(**kwargs)

    async def _on_response(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self.last_error_status = f"HTTP {response.status_code} {response.reason_phrase}".strip()
        if response.request.method == "POST":
            # the answer to one message (a tool call's result…): whatever answers at the endpoint
            # chooses its size, and the SDK reads it whole. Not the GET stream of server
            # notifications, which lives as long as the session.
            await cap_response(response, MAX_ANSWER_BYTES, _too_large)


def connection_params(server: McpServer, *, connect_timeout: float = 10.0,
                      read_timeout: float = 300.0) -> StdioConnectionParams | StreamableHTTPConnectionParams:
    """ADK connection parameters for an MCP server resource (see the module docstring)."""
    if server.type == "stdio":
        return StdioConnectionParams(
            server_params=StdioServerParameters(
                command=server.command,
                args=list(server.args),
                env=stdio_env(server.env),
                cwd=server.work_dir or None,
            ),
            timeout=connect_timeout,
        )
    # ADK types the factory against httpx 1.x; with mcp 2.x it is handed (and returns) httpx2 types
    factory: Any = HttpClientFactory(verify=not server.insecure)
    return StreamableHTTPConnectionParams(
        url=server.endpoint,
        headers=dict(server.headers) or None,
        timeout=connect_timeout,
        sse_read_timeout=read_timeout,
        httpx_client_factory=factory,
    )


def stdio_env(declared: dict[str, str], source: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a stdio MCP server: :data:`~magec.procenv.INHERITED_ENV` from ``source``
    (default: this process) plus ``declared`` (the resource's ``env``, which wins)."""
    return minimal_env(declared, source)


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_tool_name(name: str) -> str:
    """A function name every backend accepts: ``[A-Za-z_][A-Za-z0-9_-]{0,63}``."""
    out = _UNSAFE.sub("_", name) or "tool"
    if not (out[0].isalpha() or out[0] == "_"):
        out = "t_" + out
    return out[:64]


def unique_name(name: str, used: set[str]) -> str:
    """``name`` (cut to 64), or with ``_2``, ``_3``... appended when already in ``used``."""
    out, base, n = name[:64], name[:64], 2
    while out in used:
        suffix = f"_{n}"
        out, n = base[: 64 - len(suffix)] + suffix, n + 1
    return out


def object_schema(schema: Any) -> dict[str, Any]:
    """A tool's parameter schema as an object schema with ``properties`` and valid ``required``."""
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return {"type": "object", "properties": {}}
    out = {k: v for k, v in schema.items() if k != "$schema"}
    out["type"] = "object"
    props = out.get("properties")
    if not isinstance(props, dict):
        props = out["properties"] = {}
    required = out.get("required")
    if required is not None:
        kept = [r for r in required if isinstance(r, str) and r in props] if isinstance(required, list) else []
        if kept:
            out["required"] = kept
        else:
            out.pop("required")
    return out


_GENERIC = ("Failed to create MCP session", "Failed to get tools from MCP server", "unhandled errors in a TaskGroup")


def _chain(exc: BaseException) -> list[BaseException]:
    """Every exception in ``exc``'s chain, outermost first: exception-group members and
    ``__cause__``; ``__context__`` only out of plain exceptions (a task group's context is
    cancellation noise)."""
    found: list[BaseException] = []
    seen: set[int] = set()

    def walk(e: BaseException | None) -> None:
        if e is None or id(e) in seen or isinstance(e, asyncio.CancelledError):
            return
        seen.add(id(e))
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub)
            walk(e.__cause__)
            return
        found.append(e)
        walk(e.__cause__ or e.__context__)

    walk(exc)
    return found


def describe_error(exc: BaseException) -> str:
    """The most specific message in an exception chain (transport errors nest deeply): the deepest
    non-generic message wins. The operator's text (log, Admin API): it may name the server's
    address, command and directory — a client's conversation gets :func:`public_reason`."""
    messages: list[str] = []
    for e in _chain(exc):
        text = str(e).strip()
        if text and not any(g in text for g in _GENERIC):
            messages.append(f"{type(e).__name__}: {text}")
    if not messages:  # only ADK's wrappers: keep the innermost text after their prefixes
        text = str(exc).strip()
        for prefix in _GENERIC:
            text = text.replace(prefix + ":", "").strip()
        messages.append(text or type(exc).__name__)
    return redact(messages[-1])[:300]


#: a file system path standing as a word (``'/srv/mcp/server'``, ``/opt/x``); ``text/html`` is none
_PATH = re.compile(r"""(?<![\w.~-])['"]?/[^\s'",()]+['"]?""")


def public_text(text: str) -> str:
    """``text`` without network addresses or file system paths (see :func:`public_reason`)."""
    return _PATH.sub("", no_address(redact(text))).strip(" :,") or "failed"


def public_reason(exc: BaseException) -> str:
    """Why an MCP server failed, as a client's conversation may tell it: the model's note that the
    server is unavailable and a failed tool call's result (which the client reads in its events, and
    the note by asking the model to repeat its instructions). The OS error's own words
    (``Connection refused``, ``No such file or directory``) when the chain holds one, else the most
    specific message without addresses or paths: where the server lives, the command it runs and
    its directory are the operator's (:func:`describe_error`), as a backend's address is
    (:func:`magec.backends._errors.connect_reason`)."""
    for e in _chain(exc):
        if isinstance(e, ssl.SSLError):
            return f"{type(e).__name__}: TLS handshake failed"
        if isinstance(e, socket.gaierror):
            return f"{type(e).__name__}: the host name could not be resolved"
        if isinstance(e, OSError) and e.errno is not None and e.errno > 0:
            return f"{type(e).__name__}: {os.strerror(e.errno)}"
    return public_text(describe_error(exc))


class _SessionManager(MCPSessionManager):
    """ADK's session pool, adjusted.

    * no Google ADC/mTLS probe (irrelevant for arbitrary MCP hosts);
    * ADK uses a stdio connection's connect timeout as the read timeout of every request, so a
      tool running longer than it would fail: stdio sessions get ``call_timeout`` once initialized
      (HTTP sessions already use the read timeout of their connection params).
    """

    def __init__(self, *args: Any, call_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.call_timeout = call_timeout

    @override
    async def _get_mtls_transport(self) -> Any:
        return None

    @override
    async def create_session(self, headers: dict[str, str] | None = None) -> Any:
        session = await super().create_session(headers)
        if isinstance(self._connection_params, StdioConnectionParams) and hasattr(
                session, "_session_read_timeout_seconds"):
            session._session_read_timeout_seconds = self.call_timeout
        return session


class MagecMcpTool(McpTool):
    """One MCP tool of a :class:`MagecMcpToolset`: model-safe declaration, failures as tool results."""

    def __init__(self, *, source: McpTool, owner: MagecMcpToolset, name: str) -> None:
        super().__init__(mcp_tool=source.raw_mcp_tool, mcp_session_manager=owner.session_manager)
        self.name = name
        self._owner = owner

    @property
    def qualified_names(self) -> frozenset[str]:
        """``<server id>/<tool>`` and ``<server name>/<tool>`` (the server's own tool name): what an
        agent's ``secretTools`` binds a secret to. The name offered to the model is not enough — a
        server earlier in the agent's list takes a shared name, and the other gets a prefixed one."""
        return frozenset({f"{self._owner.server_id}/{self._raw_name}", self.qualified_label})

    @property
    def qualified_label(self) -> str:
        """``<server name>/<tool>``, as refusals and the Admin UI name it."""
        return f"{self._owner.label}/{self._raw_name}"

    @property
    def _raw_name(self) -> str:
        return str(getattr(self.raw_mcp_tool, "name", "") or self.name)

    @override
    def _build_declaration(self, *, fenced: bool = False) -> types.FunctionDeclaration:
        decl = super()._build_declaration(fenced=fenced)
        if decl.parameters is None:
            decl.parameters_json_schema = object_schema(decl.parameters_json_schema)
        return decl

    @override
    async def run_async(self, *, args: dict[str, Any], tool_context: ToolContext) -> Any:
        owner = self._owner
        if owner.closed:
            return {"error": f"The MCP server {owner.label!r} was reconfigured or removed; "
                             f"tool {self.name!r} is no longer available."}
        owner.inflight += 1
        public = ""
        try:
            result = await super().run_async(args=args, tool_context=tool_context)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a failing tool is a tool result, never a crashed run
            result, public = {"error": describe_error(e)}, public_reason(e)
        finally:
            owner.inflight -= 1
        if isinstance(result, dict) and set(result) == {"error"}:
            # ADK's (or our) rendering of an exception: the call did not reach a working server.
            # The log gets the detail; the result goes to the model and into the client's events
            log.warning("MCP tool %s on %s failed: %s", self.name, owner.label, result["error"])
            owner.call_failed()
            why = public or public_text(str(result["error"]))
            return {"error": f"Tool {self.name!r} of MCP server {owner.label!r} failed: {why}"}
        return result


class MagecMcpToolset(McpToolset):
    """The tools of one MCP server resource (contract in the module docstring)."""

    def __init__(self, server: McpServer, *, connect_timeout: float = 10.0, call_timeout: float = 300.0,
                 tools_ttl: float = 60.0, retry_after: float = 10.0) -> None:
        params = connection_params(server, connect_timeout=connect_timeout, read_timeout=call_timeout)
        # a stdio server's stderr becomes log records (redacted, escaped), never magec's raw stderr
        errlog = stderr_log.errlog(server.id, server.name or server.id) if server.type == "stdio" else sys.stderr
        super().__init__(connection_params=params, tool_list_cache_ttl_seconds=tools_ttl, errlog=errlog)
        self._mcp_session_manager = _SessionManager(connection_params=params, errlog=errlog,
                                                    call_timeout=call_timeout)
        self.server_id = server.id
        self.label = server.name or server.id
        self.retry_after = retry_after
        #: the program a stdio server runs (None over HTTP), named in a spawn error that lacks it
        self.command = server.command if server.type == "stdio" else None
        #: why the tools are unavailable (None while the server answers or before the first attempt):
        #: the operator's words (log, Admin API), which may name the address, command and directory
        self.error: str | None = None
        #: the same without them, for the model's note (:func:`public_reason`)
        self.public_error = ""
        #: names offered to the model at the last successful listing
        self.tool_names: list[str] = []
        #: when this process last heard from the server (a listing that reached it, or failed):
        #: ISO 8601 UTC, None before the first attempt. A cached listing does not move it.
        self.checked_at: str | None = None
        self.closed = False
        #: tool calls currently running (a replaced toolset is closed once this drops to 0)
        self.inflight = 0
        self._failed_at: float | None = None
        self._failures = 0
        self._listed = False
        self._list_lock = asyncio.Lock()

    @property
    def session_manager(self) -> MCPSessionManager:
        return self._mcp_session_manager

    @property
    def state(self) -> str:
        """``closed``, ``unavailable``, ``ok`` or ``unknown`` (not contacted yet)."""
        if self.closed:
            return "closed"
        if self.error is not None:
            return "unavailable"
        return "ok" if self._listed else "unknown"

    @override
    async def get_tools(self, readonly_context: ReadonlyContext | None = None) -> list[BaseTool]:
        # one listing at a time: concurrent turns share its cached result, or its failure
        async with self._list_lock:
            listed = await self._list(readonly_context)
        tools: list[BaseTool] = []
        used: set[str] = set()
        for tool in listed:
            if not isinstance(tool, McpTool):
                continue
            name = unique_name(safe_tool_name(tool.name), used)
            used.add(name)
            tools.append(MagecMcpTool(source=tool, owner=self, name=name))
        if self._listed and not self.error:
            self.tool_names = [t.name for t in tools]
        return tools

    async def _list(self, readonly_context: ReadonlyContext | None) -> list[BaseTool]:
        if self.closed:
            return []
        if self._failed_at is not None and time.monotonic() - self._failed_at < self._backoff():
            return []
        factory = getattr(self._connection_params, "httpx_client_factory", None)
        if isinstance(factory, HttpClientFactory):
            factory.last_error_status = None
        try:
            listed = await super().get_tools(readonly_context)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - an unreachable server means no tools, not a dead agent
            self._failed(e)
            return []
        if self.closed:  # closed while listing: do not keep a session the pool no longer owns
            await self._mcp_session_manager.close()
            return []
        if self.error is not None:
            log.info("MCP server %s is available again (%d tools)", self.label, len(listed))
        self.error, self._failed_at, self._failures, self._listed = None, None, 0, True
        return listed

    @override
    def _write_tool_list_cache(self, cache_key: str | None, mcp_tools: list[Any]) -> None:
        # ADK writes the cache only after a real ``tools/list`` round trip: the moment the server
        # was last seen answering (a cache hit must not look like a fresh check)
        self.checked_at = datetime.now(UTC).isoformat()
        super()._write_tool_list_cache(cache_key, mcp_tools)

    def retry_now(self) -> None:
        """Forget the back-off: the next model step connects again (an operator's test just
        reached the server, so waiting out the window would only keep the tools away longer)."""
        self._failed_at = None

    def _backoff(self) -> float:
        """Seconds before retrying a failed server: ``retry_after`` doubling per failure, max 5 min."""
        return float(min(self.retry_after * 2 ** max(self._failures - 1, 0), 300.0))

    def call_failed(self) -> None:
        """A tool call failed in transport: list again on the next model step (the server may be gone)."""
        self._tool_list_cache.clear()
        self._cached_prefixed_tools = None

    def _failed(self, exc: BaseException) -> None:
        reason = describe_error(exc)
        factory = getattr(self._connection_params, "httpx_client_factory", None)
        status = factory.last_error_status if isinstance(factory, HttpClientFactory) else None
        if status and status not in reason:
            reason = f"{reason} ({status})"
        if self.command and self.command not in reason and reason.startswith(("FileNotFoundError", "PermissionError")):
            # uvloop's spawn errors carry no file name: "No such file or directory" alone names nothing
            reason = redact(f"{reason} (command {self.command!r})")
        if self.error != reason:
            log.warning("MCP server %s is unavailable, its tools are not offered: %s", self.label, reason)
        self.error = reason
        public = public_reason(exc)
        self.public_error = f"{public} ({status})" if status and status not in public else public
        self.checked_at = datetime.now(UTC).isoformat()
        self._failed_at = time.monotonic()
        self._failures += 1

    @override
    async def process_llm_request(self, *, tool_context: ToolContext, llm_request: LlmRequest) -> None:
        """When the server is unavailable, say so in the system instruction (the model can tell the user)."""
        await super().process_llm_request(tool_context=tool_context, llm_request=llm_request)
        if self.error is not None and not self.closed:
            llm_request.append_instructions([
                f"Note: the tools of the MCP server {self.label!r} are unavailable right now "
                f"({self.public_error}). If a request needs them, tell the user they are temporarily unavailable."
            ])

    @override
    async def close(self) -> None:
        self.closed = True
        await super().close()


class AgentMcpTools(BaseToolset):
    """The MCP tools of one agent: one :class:`MagecMcpToolset` per linked server.

    Tool names are made unique across the servers (a later duplicate becomes
    ``<server name>_<tool>``), each server's unavailability note is forwarded, and :meth:`close`
    does nothing: the toolsets (and their connections) belong to the pool, not to one runtime.
    """

    def __init__(self, toolsets: list[MagecMcpToolset]) -> None:
        super().__init__()
        self.toolsets = toolsets
        # no per-invocation tool cache: a server whose call failed must vanish at the next model step
        self._use_invocation_cache = False

    @override
    async def get_tools(self, readonly_context: ReadonlyContext | None = None) -> list[BaseTool]:
        listed = await asyncio.gather(*(ts.get_tools(readonly_context) for ts in self.toolsets),
                                      return_exceptions=True)
        tools: list[BaseTool] = []
        used: set[str] = set()
        for toolset, result in zip(self.toolsets, listed, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                log.error("listing the tools of MCP server %s failed: %s", toolset.label, describe_error(result))
                continue
            for tool in result:
                if tool.name in used:
                    tool.name = unique_name(f"{safe_tool_name(toolset.label)}_{tool.name}", used)
                used.add(tool.name)
                tools.append(tool)
        return tools

    @override
    async def process_llm_request(self, *, tool_context: ToolContext, llm_request: LlmRequest) -> None:
        for toolset in self.toolsets:
            await toolset.process_llm_request(tool_context=tool_context, llm_request=llm_request)

    @override
    async def close(self) -> None:
        """Nothing to do: :class:`~magec.tools.mcp_pool.McpPool` closes the toolsets."""
