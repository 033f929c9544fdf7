"""MCP server extras: ``POST /mcps/{id}/test`` (connect as the runtime would, list the tools).

The answer is always 200 for a stored server: ``{"ok": true, "tools": [{"name", "description"}],
"latencyMs", "checkedAt"}`` or ``{"ok": false, "error", "latencyMs", "checkedAt"}`` (the error
redacted, :mod:`magec.tools.mcp_probe`); an unknown id is the usual 404. The outcome also becomes
the server's ``health`` in this process (:meth:`magec.tools.mcp_pool.McpPool.health`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from magec.context import AppContext
from magec.errors import ValidationError

#: seconds a test may take in all (connecting, initializing, listing, closing a stdio process)
TEST_TIMEOUT = 15.0


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/mcps", tags=["mcps"])

    @r.post("/{id}/test", summary="Test a saved MCP server: connect, list its tools, disconnect")
    async def test_saved(id: str) -> dict[str, Any]:
        raw = await ctx.store.get("mcpServers", id)  # 404 for an unknown id
        snap = await ctx.store.snapshot()  # expanded: ${KEY} values and decrypted headers/env
        server = snap.mcp_servers.get(id)
        if server is None:
            raise ValidationError(f"MCP server {raw.get('name')!r} cannot be expanded")
        pool = ctx.runtime.mcp if ctx.runtime is not None else None
        if pool is not None:
            return await pool.test(server, timeout=TEST_TIMEOUT)
        from magec.tools.mcp_probe import probe  # no runtime in this process: nothing to record

        return await probe(server, timeout=TEST_TIMEOUT)

    return r
