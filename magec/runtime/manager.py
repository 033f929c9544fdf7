"""Owns the current :class:`Runtime` and rebuilds it when the config epoch moves.

Contract: ``current()`` returns an immutable runtime; a request takes it once and keeps it to the
end, so running requests and streams finish on the snapshot they began with. Rebuilds are debounced
(bursts of writes cause one rebuild) and swapped atomically. Sessions live in the session service,
not in the runtime, so they survive every rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import Any

from google.adk.sessions import BaseSessionService

from magec.context import AppContext
from magec.runtime.build import AppStatus, BuildDeps, Runtime, build_runtime
from magec.runtime.usage import UsageRecorder
from magec.store.snapshot import StoreSnapshot

log = logging.getLogger(__name__)


class RuntimeManager:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._runtime: Runtime | None = None
        self._rebuild_task: asyncio.Task[None] | None = None
        self._dirty = asyncio.Event()
        self._unsubscribe: Any = None
        self._session_services: dict[str, BaseSessionService] = {}
        self.usage = UsageRecorder(ctx.store.engine)
        self.extensions: dict[str, Any] = {}
        self._built = asyncio.Condition()

    async def start(self) -> None:
        self.usage.start()
        await self.rebuild()
        self._unsubscribe = self.ctx.store.subscribe(lambda _epoch: self._dirty.set())
        self._rebuild_task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._rebuild_task:
            self._rebuild_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rebuild_task
        await self.usage.close()
        for closer in self.extensions.get("closers", []):
            with contextlib.suppress(Exception):
                await closer()
        for service in self._session_services.values():
            close = getattr(service, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    def current(self) -> Runtime:
        assert self._runtime is not None, "runtime not started"
        return self._runtime

    def status_of(self, resource_id: str) -> AppStatus:
        app = self._runtime.apps.get(resource_id) if self._runtime else None
        return app.status if app else AppStatus(False, "not built yet")

    async def wait_for_epoch(self, epoch: int, timeout: float = 5.0) -> Runtime:
        """Wait until the runtime reflects ``epoch`` (used by tests and the admin API)."""
        async with self._built:
            await asyncio.wait_for(self._built.wait_for(lambda: self.current().epoch >= epoch), timeout)
        return self.current()

    async def _loop(self) -> None:
        debounce = self.ctx.config.rebuild_debounce_ms / 1000
        while True:
            await self._dirty.wait()
            if debounce:
                await asyncio.sleep(debounce)
            self._dirty.clear()
            try:
                await self.rebuild()
            except Exception:  # noqa: BLE001 - keep serving the previous runtime
                log.exception("runtime rebuild failed; keeping the previous one")

    async def rebuild(self) -> Runtime:
        snap = await self.ctx.store.snapshot()
        deps = BuildDeps(session_service=self._session_service(snap), on_usage=self._on_usage)
        for hook in _hooks():
            result = hook(self, snap, deps)
            if inspect.isawaitable(result):
                await result
        runtime = build_runtime(snap, deps)
        self._runtime = runtime
        async with self._built:
            self._built.notify_all()
        invalid = [a.name for a in runtime.apps.values() if not a.status.valid]
        log.info(
            "runtime rebuilt at epoch %s: %d apps%s",
            runtime.epoch,
            len(runtime.apps),
            f" ({len(invalid)} invalid: {', '.join(invalid)})" if invalid else "",
        )
        return runtime

    def _on_usage(self, agent_id: str, backend_id: str, model: str, meta: Any) -> None:
        tokens_in = int(getattr(meta, "prompt_token_count", 0) or 0)
        tokens_out = int(getattr(meta, "candidates_token_count", 0) or 0)
        self.ctx.metrics.tokens.labels(agent_id, backend_id, "input").inc(tokens_in)
        self.ctx.metrics.tokens.labels(agent_id, backend_id, "output").inc(tokens_out)
        self.usage.record(
            agent_id,
            backend_id,
            "llm",
            model,
            input_tokens=int(getattr(meta, "prompt_token_count", 0) or 0),
            output_tokens=int(getattr(meta, "candidates_token_count", 0) or 0),
        )

    def _session_service(self, snap: StoreSnapshot) -> BaseSessionService:
        from magec.runtime.sessions import session_service_for

        return session_service_for(snap, self.ctx, self._session_services)


def _hooks() -> list[Any]:
    """Subsystems that add tools/flows to the build (memory, MCP, flows), when installed."""
    from magec._optional import import_optional

    modules = [
        import_optional(n)
        for n in ("magec.tools.mcp_hook", "magec.memory.runtime_hook", "magec.flows.runtime_hook")
    ]
    return [m.install for m in modules if m is not None]
