"""Memory extras: provider types, health, re-embed jobs, and browsing / deleting memories."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter

from magec.audit import query
from magec.context import AppContext
from magec.errors import NotFoundError
from magec.memory.longterm import Owners
from magec.memory.runtime_hook import MemoryService
from magec.memory.types import MEMORY_TYPES, check_health


def _service(ctx: AppContext) -> MemoryService | None:
    return ctx.runtime.memory if ctx.runtime else None


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/memory", tags=["memory"])

    @r.get("/types", summary="Memory provider types with their categories and config JSON Schemas")
    async def types() -> list[dict[str, Any]]:
        return list(MEMORY_TYPES) if isinstance(MEMORY_TYPES, list) else list(MEMORY_TYPES.values())

    async def active_store() -> tuple[str, Any]:
        svc = _service(ctx)
        # the provider as of this request: Settings may have just changed it on another replica
        snap = (await ctx.runtime.fresh()).snapshot if ctx.runtime else None
        pid = snap.settings.long_term_provider if snap else ""
        store = svc.store(pid) if svc and pid else None
        if store is None:
            reason = svc.errors.get(pid) if svc and pid else None
            raise NotFoundError(reason or "no long-term memory provider is active (Settings → long-term provider)")
        return pid, store

    async def retention_settings() -> tuple[Any, Any]:
        retention = ctx.extras.get("session_retention")
        if retention is None or ctx.runtime is None:
            return None, None
        rt = await ctx.runtime.fresh()  # the settings as of this request (a PUT just before counts)
        return retention, rt.snapshot.settings.sessions

    @r.get("/sessions/idle", summary="How many sessions settings.sessions (retentionDays) would delete now")
    async def idle_sessions() -> dict[str, Any]:
        retention, settings = await retention_settings()
        if retention is None:
            return {"retentionDays": 0, "idle": 0}
        return {"retentionDays": settings.retention_days, "idle": await retention.idle(settings)}

    @r.post("/sessions/prune", summary="Apply settings.sessions (retentionDays) now: delete idle sessions")
    async def prune_sessions() -> dict[str, Any]:
        retention, settings = await retention_settings()
        if retention is None:
            return {"deleted": 0}
        return {"deleted": await retention.prune(settings)}

    @r.get("/entries", summary="Browse or search memories of the active long-term provider")
    async def entries(agent: str | None = None, user: str | None = None, q: str | None = None,
                      limit: int = 50, offset: int = 0, client: str | None = None) -> dict[str, Any]:
        _, store = await active_store()
        limit = max(1, min(limit, 500))
        if q and agent and user:  # one owner: a semantic search
            owner = f"{client}:{user}" if client else user
            items = await store.search(agent, owner, q, limit)
            return {"items": await named(e.to_json() for e in items), "total": len(items)}
        # a client's users are stored as "<client>:<user>": `user` alone is that id under any client
        # (or in open mode), `client` alone every user of that client
        owners = Owners(client=client or None, user=user or None)
        items = await store.list(app=agent, user=owners, limit=limit, offset=offset, query=q)
        return {"items": await named(e.to_json() for e in items),
                "total": await store.count(app=agent, user=owners, query=q)}

    async def named(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """``items`` with magec's ``userName`` where the conversation audit knows the owner's display
        name (a bot's ``@alice``): the id alone is a number nobody recognises."""
        out = list(items)
        names = await query.user_names(ctx.store.engine, [str(i["userId"]) for i in out if i.get("userId")])
        for i in out:
            if names.get(str(i.get("userId"))):
                i["userName"] = names[str(i["userId"])]
        return out

    @r.delete("/entries/{entry_id}", status_code=204, summary="Delete one memory")
    async def delete_entry(entry_id: str) -> None:
        _, store = await active_store()
        await store.get(entry_id)
        await store.delete(entry_id)

    @r.get("/{id}/health", summary="Ping the provider (5 s timeout)")
    async def health(id: str) -> dict[str, Any]:
        await ctx.store.get("memoryProviders", id)
        snap = await ctx.store.snapshot()
        provider = snap.memory_providers[id]
        result = await check_health(provider.type, provider.config)
        svc = _service(ctx)
        if svc is not None and svc.errors.get(id):
            result = {"healthy": False, "detail": svc.errors[id]}
        return dict(result)

    @r.post("/{id}/reembed", summary="Re-embed every memory with the provider's current model (background job)")
    async def reembed(id: str) -> dict[str, Any]:
        await ctx.store.get("memoryProviders", id)
        svc = _service(ctx)
        if svc is None:
            raise NotFoundError("long-term memory is not running")
        info = await svc.reembed(id)
        return dict(info.to_json())

    @r.get("/{id}/reembed", summary="Progress of the latest re-embed job and rows still on another model")
    async def reembed_status(id: str) -> dict[str, Any]:
        await ctx.store.get("memoryProviders", id)
        svc = _service(ctx)
        status = await svc.latest_job(id) if svc else None
        return status or {"job": None, "pending": 0, "model": None}

    return r
