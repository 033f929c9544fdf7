"""Owns the current :class:`Runtime` and brings it up to date with the config epoch.

Contract:
* ``current()`` returns an immutable runtime; a request takes it once and keeps it to the end, so
  running requests and streams finish on the snapshot they began with.
* **Read-your-writes.** Every committed write of this process awaits :meth:`catch_up` before it
  answers (``Store.on_commit``), so the very next request sees it. A user request first awaits
  :meth:`fresh`, which catches up with the newest epoch this process knows of (its own writes and
  other replicas' notifications), so a replica never serves a configuration older than what it
  was told about.
* **Single flight, coalescing.** One rebuild runs at a time; callers that need a newer epoch than
  the running rebuild started from wait for the next one, which covers all of them (a burst of N
  writes costs a handful of rebuilds, not N).
* **Incremental.** A rebuild reuses every app whose inputs (its own row, the rows it references,
  the ``${KEY}`` values they expand, the global build inputs) are unchanged; see
  :func:`magec.runtime.build.build_runtime`.
* Sessions live in the session service, not in the runtime, so they survive every rebuild.
* **Explicit wiring.** The manager knows no subsystem by name: the composition root
  (:mod:`magec.server`) passes the build hooks (MCP, memory, flows) that add toolsets and builders
  to every rebuild, and the typed services the APIs and the CLI reach through it (``memory``,
  ``mcp``); :meth:`close` closes the hooks' services (``closers``) after the runtime stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from google.adk.sessions import BaseSessionService

from magec import heap
from magec.agents.apps import AppStatus, BuildDeps
from magec.config_view.snapshot import StoreSnapshot
from magec.context import AppContext
from magec.errors import MagecError
from magec.runtime.build import Runtime, build_runtime
from magec.runtime.usage import UsageRecorder

if TYPE_CHECKING:  # types only: the composition root creates them (memory and tools import no runtime)
    from magec.memory.runtime_hook import MemoryService
    from magec.tools.mcp_pool import McpPool

log = logging.getLogger(__name__)

#: closes a service a hook owns (its pool, its stores); run once when the manager closes
Closer = Callable[[], Awaitable[None]]


class BuildHook(Protocol):
    """Called on every rebuild, in order, before the apps are built.

    A hook adds what its subsystem contributes to ``deps`` (``toolsets``, ``flow_builder``,
    ``build_key`` parts); it may be async (opening a memory store). A hook that raises fails the
    rebuild, and the previous runtime keeps serving.
    """

    def __call__(self, snap: StoreSnapshot, deps: BuildDeps) -> Awaitable[None] | None: ...


class ApplyError(MagecError):
    """The write was saved but the running configuration could not be rebuilt from it."""

    status_code = 503


class RuntimeManager:
    def __init__(
        self,
        ctx: AppContext,
        hooks: Sequence[BuildHook] = (),
        *,
        memory: MemoryService | None = None,
        mcp: McpPool | None = None,
        closers: Sequence[Closer] = (),
    ) -> None:
        self.ctx = ctx
        self.hooks: list[BuildHook] = list(hooks)
        #: long-term memory stores and re-embed jobs (None = not wired); the admin API and CLI use it
        self.memory = memory
        #: the MCP connection pool (None = not wired)
        self.mcp = mcp
        self.closers: list[Closer] = list(closers)
        self._runtime: Runtime | None = None
        self._building: asyncio.Future[Runtime] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._unsubscribe: list[Any] = []
        self._session_services: dict[str, BaseSessionService] = {}
        self.usage = UsageRecorder(ctx.store.engine)
        #: (apps rebuilt, apps reused, seconds) of the last rebuild, for the bench and the logs
        self.last_rebuild: tuple[int, int, float] = (0, 0, 0.0)

    async def start(self) -> None:
        self.usage.start()
        await self._rebuild()
        store = self.ctx.store
        self._unsubscribe.append(store.on_commit(self._on_commit))
        self._unsubscribe.append(store.subscribe(self._on_epoch))

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._building is not None:
            with contextlib.suppress(BaseException):
                await self._building
        await self.usage.close()
        for closer in self.closers:
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

    async def fresh(self) -> Runtime:
        """The runtime for a new request: caught up with every write committed before the request
        started, on any replica (:meth:`Store.shared_epoch`: free on SQLite, one coalesced epoch
        read on PostgreSQL; the NOTIFY listener has usually rebuilt already, so this rarely waits)."""
        runtime = self.current()
        known = await self.ctx.store.shared_epoch()
        if runtime.epoch >= known:
            return runtime
        return await self.catch_up(known)

    def status_of(self, resource_id: str) -> AppStatus:
        app = self._runtime.apps.get(resource_id) if self._runtime else None
        return app.status if app else AppStatus(False, "not built yet")

    async def catch_up(self, epoch: int) -> Runtime:
        """Return a runtime built from epoch ``epoch`` or later, rebuilding when needed.

        Raises :class:`ApplyError` when the rebuild fails (the previous runtime keeps serving)."""
        while self.current().epoch < epoch:
            building = self._building
            fresh = building is None or building.done()
            if building is None or building.done():
                building = self._building = asyncio.ensure_future(self._rebuild())
                building.add_done_callback(self._build_done)
            try:
                # shield: a writer whose client went away must not cancel the others' rebuild
                await asyncio.shield(building)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - reported to the writer, the old runtime keeps serving
                raise ApplyError(f"saved, but the running configuration could not be updated: {e}") from e
            if fresh and self.current().epoch < epoch:
                # a rebuild begun after the call read every commit: the epoch asked for is not in
                # the database (e.g. a stale shared epoch board); serve what it holds, never spin
                log.warning("asked for config epoch %d, the database holds %d", epoch, self.current().epoch)
                break
        return self.current()

    def _build_done(self, fut: asyncio.Future[Runtime]) -> None:
        if self._building is fut:
            self._building = None
        if not fut.cancelled() and fut.exception() is not None:
            log.error("runtime rebuild failed; keeping the previous one: %s", fut.exception())

    async def _on_commit(self, epoch: int) -> None:
        await self.catch_up(epoch)

    def _on_epoch(self, epoch: int) -> None:
        """Another replica moved the epoch: catch up now, before any request asks."""
        if self._runtime is None or self._runtime.epoch >= epoch:
            return
        task = asyncio.ensure_future(self.catch_up(epoch))
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("background catch-up failed: %s", task.exception())

    async def rebuild(self, *, full: bool = False) -> Runtime:
        """Rebuild now from the current store (not coalesced; for tools and the bench). ``full``
        rebuilds every app instead of reusing unchanged ones."""
        return await self._rebuild(full=full)

    async def _rebuild(self, *, full: bool = False) -> Runtime:
        started = time.perf_counter()
        snap = await self.ctx.store.snapshot()
        previous = self._runtime
        if previous is not None and snap.epoch < previous.epoch:
            return previous  # an older view than what is served (a racing catch-up won): keep it
        deps = BuildDeps(session_service=self._session_service(snap), on_usage=self._on_usage)
        deps.build_key.append(f"sessions:{id(deps.session_service)}")
        for hook in self.hooks:
            result = hook(snap, deps)
            if inspect.isawaitable(result):
                await result
        runtime = build_runtime(snap, deps, None if full else previous)
        if self._runtime is not None and self._runtime.epoch > runtime.epoch:
            return self._runtime
        self._runtime = runtime
        # a first backend of a vendor imports its SDK: long-lived objects, frozen like start-up's
        heap.settle_new_code()
        elapsed = time.perf_counter() - started
        self.last_rebuild = (runtime.rebuilt, len(runtime.apps) - runtime.rebuilt, elapsed)
        self.ctx.metrics.app_builds.inc(runtime.rebuilt)
        self.ctx.metrics.rebuild_seconds.observe(elapsed)
        invalid = [a.name for a in runtime.apps.values() if not a.status.valid]
        log.info(
            "runtime at epoch %s: %d apps (%d rebuilt) in %.1f ms%s",
            runtime.epoch,
            len(runtime.apps),
            runtime.rebuilt,
            elapsed * 1000,
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
            cached_tokens=int(getattr(meta, "cached_content_token_count", 0) or 0),
        )

    def _session_service(self, snap: StoreSnapshot) -> BaseSessionService:
        from magec.runtime.sessions import session_service_for

        return session_service_for(snap, self.ctx, self._session_services)

    def stored_sessions(self) -> BaseSessionService:
        """The session service on magec's own database (whichever session provider is active)."""
        from magec.runtime.sessions import default_session_service

        return default_session_service(self.ctx, self._session_services)

