"""Runtime hook: agents get the tools of the MCP servers they link (``agent.mcpServers``).

:class:`McpHook` is a build hook (:class:`magec.runtime.manager.BuildHook`) wired by
:mod:`magec.server` around the process's one :class:`~magec.tools.mcp_pool.McpPool` (which the
server also hands to the runtime manager as ``manager.mcp`` and closes on shutdown). On every
rebuild it syncs the pool with the snapshot (retiring toolsets of removed/reconfigured servers)
and appends a toolset function to ``deps.toolsets`` that gives each
agent one MCP toolset per linked server that still exists (unknown ids are skipped, duplicates
counted once), wrapped in one :class:`~magec.tools.mcp.AgentMcpTools` (unique tool names across
servers; closing it never closes the pool's connections), plus each linked server's
``systemPrompt`` as an instruction paragraph.

Nothing here contacts an MCP server: tools are listed lazily on the first model step, so a rebuild
never blocks on (or fails because of) an MCP server.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from magec.agents.apps import BuildDeps
from magec.config_view.snapshot import StoreSnapshot
from magec.resources import Agent
from magec.tools.mcp_pool import McpPool

if TYPE_CHECKING:
    from magec.tools.mcp import MagecMcpToolset


class McpHook:
    """Build hook over one pool."""

    def __init__(self, pool: McpPool) -> None:
        self.pool = pool

    def __call__(self, snap: StoreSnapshot, deps: BuildDeps) -> None:
        self.pool.sync(snap.mcp_servers)
        deps.toolsets.append(functools.partial(agent_toolsets, self.pool))


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
    if not toolsets:
        return [], paragraphs
    from magec.tools.mcp import AgentMcpTools  # loaded with the first toolset (magec.tools.mcp_pool)

    return [AgentMcpTools(toolsets)], paragraphs
