"""The MCP toolsets of the current config, kept across runtime rebuilds.

Contract:

* :meth:`McpPool.sync` is called with every new snapshot (inside the running loop). A server whose
  connection settings (:data:`CONNECTION_FIELDS`) are unchanged keeps its toolset,
  so a rebuild for an unrelated change neither reconnects nor respawns a stdio process. A server
  that was removed or whose connection settings changed has its toolset *retired*: runtimes that
  are still running requests keep using it for ``grace`` seconds, then it is closed as soon as no
  tool call is running on it (at most ``max_wait`` seconds later). A retired toolset is never
  handed out again.
* :mod:`magec.tools.mcp` (the MCP SDK and ADK's MCP tools: ~0.7 s of imports on a slow host) is
  imported when the first toolset is made, i.e. by the first rebuild with an agent that links an
  MCP server: a process whose agents use none never loads it.
* :meth:`McpPool.toolset` returns the toolset for a server of the current snapshot (created on
  first use; creating one does not connect).
* :meth:`McpPool.close` (registered as a runtime closer) closes every toolset, retired ones
  included, at once: no stdio subprocess outlives shutdown.
* :meth:`McpPool.health` is what **this process** last observed of a server — its toolset's last
  listing (a turn's) or the last :meth:`McpPool.test`, whichever is newer — for the current
  connection settings only (a change makes it ``unknown`` again). It never connects. With
  ``server.workers`` > 1 each worker has its own observations.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from magec.resources import McpServer

if TYPE_CHECKING:
    from magec.tools.mcp import MagecMcpToolset

log = logging.getLogger(__name__)

#: the settings of an MCP server that its connection depends on (the rest: names, prompts)
CONNECTION_FIELDS = ("type", "endpoint", "headers", "insecure", "command", "args", "env", "work_dir")


def fingerprint(server: McpServer) -> str:
    """Identity of a server's connection settings."""
    return json.dumps(server.model_dump(include=set(CONNECTION_FIELDS)), sort_keys=True, default=str)


class McpPool:
    def __init__(self, *, grace: float = 30.0, max_wait: float = 600.0, **toolset_options: Any) -> None:
        self.grace = grace
        self.max_wait = max_wait
        self.toolset_options = toolset_options
        self._active: dict[str, tuple[str, MagecMcpToolset]] = {}
        self._retired: set[MagecMcpToolset] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        #: server id -> fingerprint of its connection settings in the last synced snapshot
        self._known: dict[str, str] = {}
        #: server id -> (fingerprint tested, health record) of the last test in this process
        self._tested: dict[str, tuple[str, dict[str, Any]]] = {}

    def sync(self, servers: dict[str, McpServer]) -> None:
        """Retire toolsets whose server is gone or whose connection settings changed."""
        self._known = {sid: fingerprint(server) for sid, server in servers.items()}
        self._tested = {sid: t for sid, t in self._tested.items() if self._known.get(sid) == t[0]}
        for server_id, (fp, toolset) in list(self._active.items()):
            server = servers.get(server_id)
            if server is None or fingerprint(server) != fp:
                del self._active[server_id]
                self._retire(toolset)
            else:
                toolset.label = server.name or server.id

    def toolset(self, server: McpServer) -> MagecMcpToolset:
        fp = fingerprint(server)
        entry = self._active.get(server.id)
        if entry is not None and entry[0] == fp:
            return entry[1]
        if entry is not None:
            self._retire(entry[1])
        from magec.tools.mcp import MagecMcpToolset

        toolset = MagecMcpToolset(server, **self.toolset_options)
        if self._closed:  # after shutdown nothing may connect any more
            toolset.closed = True
        self._active[server.id] = (fp, toolset)
        return toolset

    def status(self) -> dict[str, dict[str, Any]]:
        """Per server id: ``state`` (ok | unavailable | unknown | closed), ``error``, ``tools``."""
        return {sid: {"state": ts.state, "error": ts.error, "tools": list(ts.tool_names)}
                for sid, (_, ts) in self._active.items()}

    def health(self, server_id: str) -> dict[str, Any]:
        """``{status: up | down | unknown, lastError, checkedAt}`` as this process last saw the
        server (see the module docstring); free: no connection, no I/O."""
        found: dict[str, Any] = {"status": "unknown", "lastError": None, "checkedAt": None}
        entry = self._active.get(server_id)
        if entry is not None and entry[1].checked_at is not None and not entry[1].closed:
            ts = entry[1]
            found = {"status": "down" if ts.error is not None else "up", "lastError": ts.error,
                     "checkedAt": ts.checked_at}
        tested = self._tested.get(server_id)
        if tested is not None and tested[0] == self._known.get(server_id) and (
                found["checkedAt"] is None or tested[1]["checkedAt"] > found["checkedAt"]):
            found = dict(tested[1])
        return found

    async def test(self, server: McpServer, *, timeout: float = 15.0) -> dict[str, Any]:
        """Test ``server`` with this pool's toolset options (:func:`magec.tools.mcp_probe.probe`)
        and remember the outcome for :meth:`health`. A success also ends the back-off of the
        runtime's own toolset, so the next turn connects again instead of waiting out the window."""
        from magec.tools.mcp_probe import probe

        result = await probe(server, timeout=timeout, **self.toolset_options)
        fp = fingerprint(server)
        record = {"status": "up" if result["ok"] else "down", "lastError": result.get("error"),
                  "checkedAt": result["checkedAt"]}
        self._tested[server.id] = (fp, record)
        entry = self._active.get(server.id)
        if result["ok"] and entry is not None and entry[0] == fp:
            entry[1].retry_now()
        return result

    def _retire(self, toolset: MagecMcpToolset) -> None:
        self._retired.add(toolset)
        try:
            task = asyncio.get_running_loop().create_task(self._close_later(toolset))
        except RuntimeError:  # no loop (never the case inside a rebuild): close() will do it
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_later(self, toolset: MagecMcpToolset) -> None:
        await asyncio.sleep(self.grace)
        waited = 0.0
        while toolset.inflight and waited < self.max_wait:
            await asyncio.sleep(0.2)
            waited += 0.2
        await self._close_one(toolset)

    async def _close_one(self, toolset: MagecMcpToolset) -> None:
        try:
            await toolset.close()
        except Exception:  # noqa: BLE001 - closing one server must not stop the others
            log.exception("closing MCP toolset %s failed", toolset.label)
        finally:
            self._retired.discard(toolset)

    async def close(self) -> None:
        self._closed = True
        toolsets = [ts for _, ts in self._active.values()] + list(self._retired)
        self._active.clear()
        for toolset in toolsets:
            toolset.closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(*(self._close_one(ts) for ts in toolsets))
