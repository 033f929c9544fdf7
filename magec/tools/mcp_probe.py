"""Test an MCP server the way the runtime connects to it: ``POST /api/v1/admin/mcps/{id}/test``.

Contract of :func:`probe`:

* it builds a :class:`~magec.tools.mcp.MagecMcpToolset` from the (expanded) resource — the same
  transport, minimal stdio environment, headers, TLS setting and ``connect_timeout`` a turn uses —
  lists the tools once and closes the toolset (a stdio server is spawned for the test and
  terminated after it; the runtime's own connection is not touched);
* the listing is bounded by ``timeout`` seconds and closing by 5 more; it never raises except
  for cancellation;
* the answer is ``{"ok": true, "tools": [{"name", "description"}], "latencyMs"}`` (names as offered
  to the model) or ``{"ok": false, "error", "latencyMs"}``, plus ``checkedAt`` (ISO 8601 UTC). The
  error is redacted: known secrets, key shapes, and the server's own header and env values.
* a stdio process that never became ready is cancelled by ADK and terminated by the MCP SDK in
  the background (its graceful-shutdown wait, then SIGTERM/SIGKILL), a few seconds after the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from magec.redact import redact
from magec.resources import McpServer

log = logging.getLogger(__name__)

#: a value shorter than this is not scrubbed from errors (``"1"`` would mangle every message)
_MIN_SECRET = 6


def scrub(text: str, server: McpServer) -> str:
    """``text`` redacted, with the server's header and env values replaced by ``***`` too (they may
    hold credentials that were never registered as secrets, e.g. typed in clear)."""
    out = redact(text)
    for value in sorted({*server.headers.values(), *server.env.values()}, key=len, reverse=True):
        if len(value) >= _MIN_SECRET:
            out = out.replace(value, "***")
    return out


async def probe(server: McpServer, *, timeout: float = 15.0, **toolset_options: Any) -> dict[str, Any]:
    """Connect to ``server``, list its tools, disconnect (contract in the module docstring).

    ``toolset_options`` are :class:`~magec.tools.mcp.MagecMcpToolset` options (the pool's, so the
    test uses the runtime's timeouts); ``connect_timeout`` is capped below ``timeout`` so a slow
    server yields its own message rather than the overall deadline's."""
    from magec.tools.mcp import MagecMcpToolset, describe_error

    options = {**toolset_options, "retry_after": 0.0}
    options["connect_timeout"] = min(float(options.get("connect_timeout", 10.0)), max(timeout - 1.0, 0.5))
    toolset = MagecMcpToolset(server, **options)
    toolset.label = f"{toolset.label} (test)"  # its log lines must not read like the runtime's
    start = time.perf_counter()
    result: dict[str, Any]
    try:
        tools = await asyncio.wait_for(toolset.get_tools(), timeout=timeout)
        if toolset.error is not None:
            result = {"ok": False, "error": toolset.error}
        else:
            result = {"ok": True, "tools": [{"name": t.name, "description": (t.description or "").strip()}
                                            for t in tools]}
    except TimeoutError:
        result = {"ok": False, "error": f"no answer within {timeout:g} s"}
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - a test reports any failure, it never fails itself
        result = {"ok": False, "error": describe_error(e)}
    finally:
        latency = round((time.perf_counter() - start) * 1000, 1)
        # closing ends a stdio process; bounded, so a server that ignores termination cannot hang the request
        with contextlib.suppress(Exception):
            await asyncio.wait_for(toolset.close(), timeout=5.0)
    if not result["ok"]:
        result["error"] = scrub(str(result["error"]), server) or "connection failed"
    result["latencyMs"] = latency
    result["checkedAt"] = datetime.now(UTC).isoformat()
    return result
