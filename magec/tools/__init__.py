"""Agent tools from external sources.

* :mod:`magec.tools.mcp` — one ADK toolset per MCP server resource (``http`` Streamable HTTP or
  ``stdio``), built on ADK's ``McpToolset`` over the official ``mcp`` SDK, and
  ``AgentMcpTools``, the per-agent bundle of them (tool names unique across servers).
* :mod:`magec.tools.mcp_pool` — the toolsets of the current config, reused across runtime
  rebuilds while a server's connection settings are unchanged, closed when replaced or on shutdown.
* :mod:`magec.tools.mcp_hook` — the runtime hook linking each agent to its MCP servers.
"""
