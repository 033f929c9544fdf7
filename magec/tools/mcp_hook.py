"""Runtime hook: agents get the tools of the MCP servers they link (``agent.mcpServers``).

``install(manager, snap, deps)`` is called by the runtime manager on every rebuild. It keeps one
:class:`~magec.tools.mcp_pool.McpPool` in ``manager.extensions["mcp"]`` (its ``close`` registered
once in ``manager.extensions["closers"]``), syncs it with the snapshot (retiring toolsets of
removed/reconfigured servers) and appends a toolset function to ``deps.toolsets`` that gives each
agent one MCP toolset per linked server that still exists (unknown ids are skipped, duplicates
counted once), wrapped in one :class:`~magec.tools.mcp.AgentMcpTools` (unique tool names across
servers; closing it never closes the pool's connections), plus each linked server's
``systemPrompt`` as an instruction paragraph.

Nothing here contacts an MCP server: tools are listed lazily on the first model step, so a rebuild
never blocks on (or fails because of) an MCP server.
"""

from __future__ import annotations

import functools
from typing import Any

from magec.resources import Agent
from magec.store.snapshot import StoreSnapshot
from magec.tools.mcp import AgentMcpTools, MagecMcpToolset
from magec.tools.mcp_pool import McpPool


def pool_of(manager: Any) -> McpPool:
    """The manager's MCP pool (created, and its closer registered, on first use)."""
    pool = manager.extensions.get("mcp")
    if not isinstance(pool, McpPool):
        pool = McpPool()
        manager.extensions["mcp"] = pool
        manager.extensions.setdefault("closers", []).append(pool.close)
    return pool


def install(manager: Any, snap: StoreSnapshot, deps: Any) -> None:
    pool = pool_of(manager)
    pool.sync(snap.mcp_servers)
    deps.toolsets.append(functools.partial(agent_toolsets, pool))


def agent_toolsets(pool: McpPool, agent: Agent, snap: StoreSnapshot) -> tuple[list[Any], list[str]]:
    """(toolsets, instruction paragraphs) for one agent."""
    toolsets: list[MagecMcpToolset] = []
    paragraphs: list[str] = []
    seen: set[str] = set()
    for server_id in agent.mcp_servers:
        server = snap.mcp_servers.get(server_id)
        if server is None or server_id in seen:
            continue
        seen.add(server_id)
        toolsets.append(pool.toolset(server))
        if server.system_prompt.strip():
            paragraphs.append(server.system_prompt)
    return ([AgentMcpTools(toolsets)] if toolsets else []), paragraphs
