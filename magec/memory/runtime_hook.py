"""Wires long-term memory into the runtime: the active store, its embedder, tools and re-embed jobs.

On every rebuild the provider selected in ``settings.longTermProvider`` is resolved: its store is
opened once and cached (keyed by provider, type and connection string), and its embedder is set
from the provider's ``embedding {backend, model}`` — with the backend's key, headers and default
URL. Stored rows keep the model they were embedded with; ``resolve_embedder`` rebuilds an embedder
for any ``<backend id>/<model>`` key still configured, so old rows stay searchable until a re-embed
job moves them. A provider that cannot be opened (e.g. pgvector missing) disables memory tools with a
logged reason; agents keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from magec.agents.apps import BuildDeps
from magec.backends import Policy, registry
from magec.config_view.snapshot import StoreSnapshot
from magec.errors import ConfigError, MagecError, NotFoundError
from magec.memory.embedder import Embedder, FallbackEmbedder
from magec.memory.longterm import LongTermStore
from magec.memory.reembed import JobInfo, ReembedJob, list_jobs
from magec.memory.tools import MEMORY_INSTRUCTION, memory_tools
from magec.memory.types import open_longterm_store
from magec.redact import redact
from magec.resources import Agent, MemoryProvider

log = logging.getLogger(__name__)


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

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._stores: dict[str, tuple[tuple[str, str], LongTermStore]] = {}
        self._jobs: dict[str, asyncio.Task[JobInfo]] = {}
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

    def store(self, provider_id: str) -> LongTermStore | None:
        cached = self._stores.get(provider_id)
        return cached[1] if cached else None

    async def reembed(self, provider_id: str, on_progress: Any = None) -> JobInfo:
        """Start (or resume) the re-embed job of a provider; it runs in the background."""
        store = self.store(provider_id)
        if store is None:
            raise NotFoundError("this memory provider is not active (select it as the long-term provider first)")
        running = self._jobs.get(provider_id)
        job = ReembedJob(store, on_progress=on_progress)  # type: ignore[arg-type]
        info = await job.start()
        if running is None or running.done():
            self._jobs[provider_id] = asyncio.create_task(self._run(job))
        return info

    async def _run(self, job: ReembedJob) -> JobInfo:
        try:
            return await job.run()
        except Exception as e:  # noqa: BLE001 - the job records its own failure
            log.warning("re-embed job failed: %s", redact(str(e)))
            info = await job.get_job()
            assert info is not None
            return info

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
        return {"job": out, "pending": pending, "model": embedder.key if embedder else None}

    async def resume_unfinished(self) -> None:
        for pid in list(self._stores):
            store = self.store(pid)
            if store is None or getattr(store, "embedder", None) is None:
                continue
            unfinished = await ReembedJob(store).find_unfinished()  # type: ignore[arg-type]
            if unfinished is not None:
                log.info("resuming re-embed job %s (%d/%d)", unfinished.id, unfinished.done, unfinished.total)
                await self.reembed(pid)

    async def close(self) -> None:
        for task in self._jobs.values():
            task.cancel()
        for _, store in self._stores.values():
            with contextlib.suppress(Exception):
                await store.close()


class MemoryHook:
    """Build hook over one :class:`MemoryService` (wired by :mod:`magec.server`, which also hands
    the service to the runtime manager as ``manager.memory`` and closes it on shutdown)."""

    def __init__(self, service: MemoryService, max_per_user: int = 0) -> None:
        self.service = service
        self.max_per_user = max_per_user  # limits.maxMemoriesPerUser
        self._first = True

    async def __call__(self, snap: StoreSnapshot, deps: BuildDeps) -> None:
        # the first build (process start) resumes re-embed jobs a restart interrupted
        first, self._first = self._first, False
        active = await self.service.active(snap)
        if active is None:
            return
        provider, store = active
        # every agent's memory tools close over this store: another store rebuilds them all
        version = snap.versions.get(("memoryProviders", provider.id))
        deps.build_key.append(f"memory:{provider.id}:{version}:{id(store)}")

        def toolset(agent: Agent, _snap: StoreSnapshot) -> tuple[list[Any], list[str]]:
            return memory_tools(store, app_name=agent.id, max_per_user=self.max_per_user), [MEMORY_INSTRUCTION]

        deps.toolsets.append(toolset)
        if first:
            asyncio.get_running_loop().create_task(self.service.resume_unfinished())


__all__ = ["MemoryService", "MemoryHook", "embedder_for", "ConfigError"]
