"""Wires long-term memory into the runtime: the active store, its embedder, tools and re-embed jobs.

On every rebuild the provider selected in ``settings.longTermProvider`` is resolved: its store is
opened once and cached (keyed by provider, type and connection string), and its embedder is set
from the provider's ``embedding {backend, model}`` — with the backend's key, headers and default
URL. Stored rows keep the model they were embedded with; ``resolve_embedder`` rebuilds an embedder
for any ``<backend id>/<model>`` key still configured, so old rows stay searchable until a re-embed
job moves them. A provider that cannot be opened (e.g. pgvector missing) disables memory tools with a
logged reason; agents keep working.

Re-embed jobs run in one process at a time, across replicas and ``--workers``: a process runs a
store's job only while it holds the lease ``reembed:<provider id>`` (``client_leases`` in the shared
database, :class:`magec.clients.lease.Leases`), renewed before every batch and every ``ttl / 3``
seconds meanwhile; a process that cannot renew stops (the leases are handed in by
:mod:`magec.server`: memory does not import the clients part). Every process looks for unfinished jobs at
start and then every ``ttl / 3`` seconds, and takes over one whose holder let the lease expire (or,
on this host, whose holder process is gone: at once). Each embedding call is thus paid once, except
the one batch a holder killed mid-batch had embedded but not written. Tuning (environment, read at
start): ``MAGEC_REEMBED_LEASE_TTL`` (seconds, default 30), ``MAGEC_REEMBED_BATCH`` (rows per
embedding call, default 64).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from magec.agents.apps import BuildDeps
from magec.backends import Policy, registry
from magec.config_view.snapshot import StoreSnapshot
from magec.errors import ConfigError, ConflictError, MagecError, NotFoundError
from magec.memory.automatic import AutomaticMemory
from magec.memory.embedder import Embedder, FallbackEmbedder
from magec.memory.longterm import LongTermStore
from magec.memory.reembed import JobInfo, ReembedJob, list_jobs
from magec.memory.tools import MEMORY_INSTRUCTION, SaveMemoryTool, memory_tools
from magec.memory.types import open_longterm_store
from magec.redact import redact
from magec.resources import Agent, MemoryProvider

log = logging.getLogger(__name__)

DEFAULT_LEASE_TTL = 30.0
DEFAULT_BATCH = 64


def _env_number(name: str, default: float, low: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        log.warning("%s=%r is not a number; using %s", name, raw, default)
        value = default
    return max(value, low)


def lease_name(provider_id: str) -> str:
    return f"reembed:{provider_id}"


def lease_ttl() -> float:
    """``MAGEC_REEMBED_LEASE_TTL`` (seconds, default 30)."""
    return _env_number("MAGEC_REEMBED_LEASE_TTL", DEFAULT_LEASE_TTL, 1.0)


class JobLeases(Protocol):
    """What the service needs of :class:`magec.clients.lease.Leases`."""

    ttl: float

    async def acquire(self, name: str) -> bool: ...

    async def release(self, name: str) -> None: ...

    def valid_until(self, name: str) -> float: ...

    async def live_holder(self, name: str) -> str | None: ...


def calls_tools(snap: StoreSnapshot, agent: Agent) -> bool:
    """Whether ``agent``'s chat model can call tools, as its backend type declares (``local``:
    no); unknown (no backend yet, a type not installed) counts as yes — the tools as before."""
    spec = snap.backend_spec(agent.llm.backend) if agent.llm.backend else None
    if spec is None:
        return True
    try:
        return bool(registry.get(spec.type).declared.tools)
    except (MagecError, ImportError):
        return True


def embedder_for(snap: StoreSnapshot, backend_id: str, model: str) -> Embedder | None:
    spec = snap.backend_spec(backend_id)
    if spec is None or not model:
        return None
    try:
        return Embedder(registry.get(spec.type).embeddings(spec), model, backend_id, Policy.of(spec, spec.name or spec.id))
    except (MagecError, ImportError) as e:
        log.warning("embedding backend %s unavailable: %s", backend_id, redact(str(e)))
        return None


def chain_for(snap: StoreSnapshot, provider: MemoryProvider) -> Embedder | FallbackEmbedder | None:
    """The provider's embedder, behind a :class:`FallbackEmbedder` when it has
    ``embedding.fallbacks`` (a fallback that cannot be built is skipped and logged)."""
    primary = embedder_for(snap, provider.embedding.backend, provider.embedding.model)
    if primary is None:
        return None
    links = [primary]
    for fb in provider.embedding.fallbacks:
        link = embedder_for(snap, fb.backend, fb.model) if fb.backend else None
        if link is not None:
            links.append(link)
    if len(links) == 1:
        return primary
    for link in links[:-1]:  # a link with a fallback after it fails over instead of retrying
        if link.policy is not None:
            link.policy = dataclasses.replace(link.policy, max_attempts=1)
    return FallbackEmbedder(links)


class MemoryService:
    """Long-term stores by provider id, and their re-embed jobs (one background task per provider)."""

    def __init__(self, engine: Any, leases: JobLeases) -> None:
        self.engine = engine
        self._stores: dict[str, tuple[tuple[str, str], LongTermStore]] = {}
        self._jobs: dict[str, asyncio.Task[JobInfo]] = {}
        self.leases = leases
        self.ttl = leases.ttl
        self.batch_size = int(_env_number("MAGEC_REEMBED_BATCH", DEFAULT_BATCH, 1))
        self._watch: asyncio.Task[None] | None = None
        self._starting: dict[str, asyncio.Lock] = {}
        self.snapshot: StoreSnapshot | None = None
        self.errors: dict[str, str] = {}

    def resolver(self) -> Callable[[str], Embedder | None]:
        def resolve(key: str) -> Embedder | None:
            backend_id, _, model = key.partition("/")
            return embedder_for(self.snapshot, backend_id, model) if self.snapshot else None

        return resolve

    async def open(self, provider: MemoryProvider, snap: StoreSnapshot) -> LongTermStore:
        """The started store of ``provider`` with its current embedder (cached across rebuilds)."""
        self.snapshot = snap
        ident = (provider.type, str(provider.config.get("connectionString", "")))
        cached = self._stores.get(provider.id)
        if cached is not None and cached[0] != ident:
            with contextlib.suppress(Exception):
                await cached[1].close()
            cached = None
        embedder = chain_for(snap, provider)
        if cached is None:
            store = await open_longterm_store(provider.type, provider.config, self.engine, embedder,
                                              store_id=provider.id, resolve_embedder=self.resolver())
            self._stores[provider.id] = (ident, store)
        else:
            store = cached[1]
            store.embedder = embedder  # type: ignore[attr-defined]
        self.errors.pop(provider.id, None)
        return store

    async def active(self, snap: StoreSnapshot) -> tuple[MemoryProvider, LongTermStore] | None:
        pid = snap.settings.long_term_provider
        provider = snap.memory_providers.get(pid) if pid else None
        if provider is None:
            return None
        try:
            return provider, await self.open(provider, snap)
        except Exception as e:  # noqa: BLE001 - memory off, agents on
            self.errors[provider.id] = redact(str(e))
            log.warning("long-term memory %r disabled: %s", provider.name, self.errors[provider.id])
            return None

    def open_stores(self) -> list[LongTermStore]:
        """Every long-term store this process has open (a deleted client's memories go from each)."""
        return [store for _, store in self._stores.values()]

    def store(self, provider_id: str) -> LongTermStore | None:
        cached = self._stores.get(provider_id)
        return cached[1] if cached else None

    async def reembed(self, provider_id: str, on_progress: Any = None) -> JobInfo:
        """Start (or resume) the re-embed job of a provider. The process that gets the lease
        creates or resumes the job and runs it in the background; any other answers the holder's
        job (see the module docstring)."""
        store = self.store(provider_id)
        if store is None:
            raise NotFoundError("this memory provider is not active (select it as the long-term provider first)")
        job = ReembedJob(store, batch_size=self.batch_size, on_progress=on_progress)  # type: ignore[arg-type]
        # one start at a time in this process (the lease tells processes apart, not requests)
        async with self._starting.setdefault(provider_id, asyncio.Lock()):
            return await self._start(provider_id, job)

    async def _start(self, provider_id: str, job: ReembedJob) -> JobInfo:
        running = self._jobs.get(provider_id)
        if running is not None and not running.done():
            return await job.start()  # this process holds the lease: resumes (or supersedes) in turn
        name = lease_name(provider_id)
        if not await self.leases.acquire(name):
            return await self._holders_job(job)
        try:
            info = await job.start()  # under the lease: two processes never both create a job
        except BaseException:
            with contextlib.suppress(Exception):
                await self.leases.release(name)
            raise
        self._jobs[provider_id] = asyncio.create_task(self._run(provider_id, job))
        return info

    async def _holders_job(self, job: ReembedJob) -> JobInfo:
        """The job another process holds the lease of (it creates one right after taking it)."""
        deadline = time.monotonic() + 5
        while True:
            info = await job.find_unfinished()
            if info is not None and info.status != "failed":
                return info
            if time.monotonic() > deadline:
                raise ConflictError("another process is starting this provider's re-embed job; try again")
            await asyncio.sleep(0.05)

    async def _run(self, provider_id: str, job: ReembedJob) -> JobInfo:
        """Run ``job`` holding the lease (taken by :meth:`reembed`); when the provider's model
        changed meanwhile, the next job (supersedes this one) runs under the same lease."""
        name = lease_name(provider_id)
        run = asyncio.current_task()
        heartbeat = asyncio.create_task(self._renew(name, run))
        state = {"lost": False}

        async def keep() -> bool:
            current = getattr(self.store(provider_id), "embedder", None)
            if current is None or current.key != job.embedder.key:
                return False  # the model changed again: the next job takes over
            try:
                held = await self.leases.acquire(name)
            except Exception as e:  # noqa: BLE001 - cannot renew: stop (another process may take it)
                log.warning("re-embed job: cannot renew its lease: %s", redact(str(e)))
                held = False
            state["lost"] = not held
            return held

        try:
            while True:
                try:
                    info = await job.run(keep=keep)
                except Exception as e:  # noqa: BLE001 - the job records its own failure
                    log.warning("re-embed job failed: %s", redact(str(e)))
                    info = await job.get_job()  # type: ignore[assignment]
                    assert info is not None
                    return info
                store = self.store(provider_id)
                embedder = getattr(store, "embedder", None)
                if state["lost"] or store is None or embedder is None or embedder.key == job.embedder.key:
                    return info
                job = ReembedJob(store, batch_size=self.batch_size, on_progress=job.on_progress)  # type: ignore[arg-type]
                await job.start()
        finally:
            heartbeat.cancel()
            if not state["lost"]:
                with contextlib.suppress(Exception):
                    await self.leases.release(name)

    async def _renew(self, name: str, run: asyncio.Task[Any] | None) -> None:
        """Renew ``name`` every ``ttl / 3`` s while a batch's embedding call lasts; the run is
        cancelled (its batch not written) before a lease it could not renew expires."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                held = await self.leases.acquire(name)
            except Exception as e:  # noqa: BLE001 - judged by the lease's own validity below
                log.warning("re-embed job: cannot renew its lease: %s", redact(str(e)))
                held = self.leases.valid_until(name) - time.monotonic() > self.ttl / 3
            if not held and run is not None:
                log.warning("re-embed job: lease %s lost, stopping", name)
                run.cancel()
                return

    async def wait(self, provider_id: str) -> JobInfo | None:
        task = self._jobs.get(provider_id)
        return await task if task else None

    async def latest_job(self, provider_id: str) -> dict[str, Any] | None:
        store = self.store(provider_id)
        if store is None:
            return None
        jobs = await list_jobs(store.engine, provider_id)  # type: ignore[attr-defined]
        out = jobs[0].to_json() if jobs else None
        embedder = getattr(store, "embedder", None)
        pending = await store.reembed_pending(embedder.key) if embedder else 0  # type: ignore[attr-defined]
        return {"job": out, "pending": pending, "model": embedder.key if embedder else None,
                "holder": await self._live_holder(provider_id)}

    async def _live_holder(self, provider_id: str) -> str | None:
        """The process running the provider's job now (its lease is live), or None."""
        return await self.leases.live_holder(lease_name(provider_id))

    async def resume_unfinished(self, failed_too: bool = True) -> None:
        """Resume the unfinished jobs nobody runs (at start: also failed ones, as a restart does)."""
        for pid in list(self._stores):
            store = self.store(pid)
            if store is None or getattr(store, "embedder", None) is None:
                continue
            running = self._jobs.get(pid)
            if running is not None and not running.done():
                continue
            unfinished = await ReembedJob(store).find_unfinished()  # type: ignore[arg-type]
            if unfinished is None or (unfinished.status == "failed" and not failed_too):
                continue
            if await self._live_holder(pid) is not None:
                continue  # another process runs it
            log.info("resuming re-embed job %s (%d/%d)", unfinished.id, unfinished.done, unfinished.total)
            await self.reembed(pid)

    def watch(self) -> None:
        """Start looking for unfinished jobs now and every ``ttl / 3`` s (once per service)."""
        if self._watch is None:
            self._watch = asyncio.get_running_loop().create_task(self._watching())

    async def _watching(self) -> None:
        first = True
        while True:
            try:
                await self.resume_unfinished(failed_too=first)
            except Exception as e:  # noqa: BLE001 - looked at again next round
                log.warning("re-embed jobs: cannot look for unfinished ones: %s", redact(str(e)))
            first = False
            await asyncio.sleep(self.ttl / 3)

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for task in self._jobs.values():
            task.cancel()
        # a cancelled run gives its lease back (another process takes the job at once)
        if self._jobs:
            await asyncio.wait([*self._jobs.values()], timeout=5)
        for _, store in self._stores.values():
            with contextlib.suppress(Exception):
                await store.close()


class MemoryHook:
    """Build hook over one :class:`MemoryService` (wired by :mod:`magec.server`, which also hands
    the service to the runtime manager as ``manager.memory`` and closes it on shutdown)."""

    def __init__(self, service: MemoryService, max_per_user: int = 0, max_per_client: int = 0) -> None:
        self.service = service
        self.max_per_user = max_per_user  # limits.maxMemoriesPerUser
        self.max_per_client = max_per_client  # limits.maxMemoriesPerClient
        self._first = True

    async def __call__(self, snap: StoreSnapshot, deps: BuildDeps) -> None:
        # from the first build (process start) on, this process looks for re-embed jobs nobody
        # runs (a restart interrupted them, or their holder died); with or without a provider yet
        if self._first:
            self._first = False
            self.service.watch()
        active = await self.service.active(snap)
        if active is None:
            return
        provider, store = active
        # every agent's memory tools close over this store: another store rebuilds them all
        version = snap.versions.get(("memoryProviders", provider.id))
        deps.build_key.append(f"memory:{provider.id}:{version}:{id(store)}")

        def toolset(agent: Agent, snap: StoreSnapshot) -> tuple[list[Any], list[str]]:
            tools = memory_tools(store, app_name=agent.id, max_per_user=self.max_per_user,
                                 max_per_client=self.max_per_client)
            if not calls_tools(snap, agent):
                # a model that calls no tools would never reach the memory: magec recalls and
                # saves around its calls instead (magec.memory.automatic), and offers no tool
                save = next(t for t in tools if isinstance(t, SaveMemoryTool))
                return [AutomaticMemory(store, save, app_name=agent.id)], []
            return tools, [MEMORY_INSTRUCTION]

        deps.toolsets.append(toolset)


__all__ = ["MemoryService", "MemoryHook", "embedder_for", "ConfigError"]
