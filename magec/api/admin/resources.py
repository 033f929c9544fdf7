"""Generic CRUD routes for every resource kind, plus settings, overview, server and integrity."""

from __future__ import annotations

import contextlib
import copy
import functools
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from magec.api.admin.views import public
from magec.api.errors import json_body
from magec.clients.purge import purge_client
from magec.context import AppContext
from magec.errors import MagecError
from magec.resources import BY_PATH, KINDS, tokens
from magec.store import stamps
from magec.store.stamps import changed_at

#: URL segment → store kind (Magec's paths), declared on the models (``Resource.path``)
PATHS = BY_PATH


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a create or update: the kind's model, by alias. Its JSON schema
    is built once per process (``_schema``), not per app: pydantic does not cache it, and every
    admin app (each test's too) built all nine kinds' twice, ~1/6 of the app's build."""
    return {"requestBody": {"content": {"application/json": {"schema": copy.deepcopy(_schema(model))}}}}


@functools.cache
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(by_alias=True)


def crud_router(ctx: AppContext, segment: str, kind: str) -> APIRouter:
    router = APIRouter(prefix=f"/{segment}", tags=[segment])
    model = KINDS[kind]
    store = ctx.store

    async def caught_up() -> None:
        # a runnable's view says whether it runs (valid, invalidReason): as of every write committed
        # before this read, on any replica; a failed rebuild is shown by the view, not raised here
        if model.runnable and ctx.runtime is not None:
            with contextlib.suppress(MagecError):
                await ctx.runtime.fresh()

    async def stamped(view: dict[str, Any], times: dict[str, str] | None = None) -> dict[str, Any]:
        # updatedAt: read-only, magec's addition to Magec's shape (ignored when a client sends it back)
        return await stamps.stamped(store.engine, kind, view, times)

    @router.get("", summary=f"List {segment}")
    async def list_items() -> list[dict[str, Any]]:
        await caught_up()
        all_raw = await store.all_raw()
        times = await changed_at(store.engine, kind)
        return [await stamped(await public(ctx, kind, raw, all_raw), times) for raw in all_raw.get(kind, {}).values()]

    @router.post("", status_code=201, summary=f"Create one of {segment}", openapi_extra=_body_doc(model))
    async def create(request: Request) -> dict[str, Any]:
        body = await json_body(request)
        if kind != "clients":
            return await stamped(await public(ctx, kind, await store.create(kind, body)))
        # a client's token is issued here and shown in this response only (never stored in clear)
        token = tokens.new_token()
        data = await store.create(kind, body, server_fields=tokens.stored_fields(token))
        return tokens.with_token(await stamped(await public(ctx, kind, data)), token)

    @router.get("/{id}", summary=f"Get one of {segment}")
    async def get(id: str) -> dict[str, Any]:
        await caught_up()
        return await stamped(await public(ctx, kind, await store.get(kind, id)))

    @router.put("/{id}", summary=f"Update one of {segment}", openapi_extra=_body_doc(model))
    async def update(id: str, request: Request) -> dict[str, Any]:
        return await stamped(await public(ctx, kind, await store.update(kind, id, await json_body(request))))

    @router.delete(
        "/{id}",
        status_code=204,
        summary=f"Delete one of {segment} (409 if referenced; ?force=true scrubs; no ?force: settings.deleteReferenced)",
    )
    async def delete(id: str, force: bool | None = None) -> Response:
        if force is None:  # a client without "force" (Magec's UI): the instance's rule
            force = (await store.get_settings()).get("deleteReferenced") == "scrub"
        await store.delete(kind, id, force=force)
        if kind == "clients":  # its conversations, artifacts and memories go too (magec.clients.purge)
            await purge_client(ctx, id)
        return Response(status_code=204)

    @router.get("/{id}/referrers", summary=f"What refers to one of {segment} (the list a 409 on delete carries)")
    async def referrers(id: str) -> dict[str, Any]:
        # the admin UI asks BEFORE its one delete dialog, so it can say "Agent X uses it for …" up front
        await store.get(kind, id)  # 404 for an unknown id
        return {"references": await store.references_to(id)}

    return router


async def _check_longterm_selection(ctx: AppContext, body: Any) -> None:
    """Selecting a PostgreSQL long-term provider whose database lacks pgvector is refused with that reason."""
    from magec.errors import ValidationError
    from magec.memory.longterm import PGVECTOR_MISSING
    from magec.memory.types import check_health

    pid = body.get("longTermProvider") if isinstance(body, dict) else None
    if not pid or not await ctx.store.exists("memoryProviders", pid):
        return
    snap = await ctx.store.snapshot()
    provider = snap.memory_providers.get(pid)
    if provider is None or provider.type != "postgres":
        return
    health = await check_health(provider.type, provider.config)
    if not health["healthy"] and PGVECTOR_MISSING in str(health["detail"]):
        raise ValidationError(f"longTermProvider: {health['detail']}", field="longTermProvider")


def _health_summary(health: dict[str, Any]) -> dict[str, Any]:
    """A backend's live health in the overview: ``{status, since, lastError, latencyMs}``."""
    return {k: health.get(k) for k in ("status", "since", "lastError", "latencyMs")}


def user_api_url(ctx: AppContext, request: Request) -> str:
    """Where clients reach the user API: ``server.publicURL`` when set (behind a proxy), else the
    host the admin was reached on with the user port (the Admin UI shows webhook URLs with it)."""
    if ctx.config.public_url:
        return ctx.config.public_url.rstrip("/")
    host = request.url.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal
    return f"{request.url.scheme}://{host}:{ctx.config.port}"


def core_router(ctx: AppContext) -> APIRouter:
    router = APIRouter()
    store = ctx.store

    @router.get("/auth/check", tags=["auth"])
    async def auth_check() -> dict[str, bool]:
        return {"ok": True}

    @router.get("/kinds", tags=["kinds"], summary="Every resource kind: store key, URL segment, singular name")
    async def kinds() -> list[dict[str, str]]:
        # The Admin UI builds its collection paths from this (one declaration per kind, on the model).
        return [{"kind": kind, "path": m.path, "singular": m.singular} for kind, m in KINDS.items()]

    @router.get("/settings", tags=["settings"])
    async def get_settings() -> dict[str, Any]:
        return await store.get_settings()

    @router.put("/settings", tags=["settings"])
    async def put_settings(request: Request) -> dict[str, Any]:
        body = await json_body(request)
        await _check_longterm_selection(ctx, body)
        return await store.put_settings(body)

    @router.get("/server", tags=["server"], summary="magec: the user API's base URL (webhooks, /v1, Voice UI) and who may reach it")
    async def server(request: Request) -> dict[str, Any]:
        # adminPasswordSet / adminListen / openAccess: the Overview says who can reach this server
        # (an operator who never set a password learns it there, not from a start-up log line)
        config = ctx.config
        host = config.admin_bind_host()
        return {
            "userApiUrl": user_api_url(ctx, request),
            "adminPasswordSet": bool(config.admin_password),
            "adminListen": f"[{host}]:{config.admin_port}" if ":" in host else f"{host}:{config.admin_port}",
            "openAccess": config.open_access,
        }

    @router.get("/overview", tags=["overview"])
    async def overview() -> dict[str, Any]:
        all_raw = await store.all_raw()
        agents = [await public(ctx, "agents", a, all_raw) for a in all_raw.get("agents", {}).values()]
        return {
            "counts": {k: len(v) for k, v in all_raw.items()},
            "agents": [
                {
                    "id": a["id"],
                    "name": a["name"],
                    "valid": a["valid"],
                    "invalidReason": a["invalidReason"],
                    "health": a.get("health"),
                }
                for a in agents
            ],
            "backends": [
                {"id": b["id"], "name": b.get("name", ""), **_health_summary(b["health"])}
                for b in [await public(ctx, "backends", raw, all_raw) for raw in all_raw.get("backends", {}).values()]
            ],
            "epoch": store.epoch,
        }

    @router.get(
        "/usage",
        tags=["usage"],
        summary="Usage per agent, backend and kind (tokens, audio seconds, characters)",
    )
    async def usage(agent: str | None = None) -> list[dict[str, Any]]:
        if ctx.runtime is None:
            return []
        return await ctx.runtime.usage.totals(agent)

    @router.get("/integrity/dead-references", tags=["integrity"])
    async def dead_references() -> dict[str, Any]:
        # Magec G2's shape ``{references: [{…, targetId}]}``; ``deadReferences``/``target`` are
        # the same list under magec's earlier names (kept for existing clients)
        dead = [{**d, "targetId": d["target"]} for d in await store.dead_references()]
        return {"references": dead, "deadReferences": dead}

    @router.post("/integrity/dead-references/clean", tags=["integrity"])
    async def clean_dead_references() -> dict[str, Any]:
        # Magec: ``{removed: n}``; the scrubbed references themselves are in ``references``
        removed = await store.clean_dead_references()
        return {"removed": len(removed), "references": [{**d, "targetId": d["target"]} for d in removed]}

    @router.post("/clients/{id}/regenerate-token", tags=["clients"])
    async def regenerate_token(id: str) -> dict[str, Any]:
        token = tokens.new_token()  # shown in this response only, like on create
        data = await store.patch_raw("clients", id, lambda data: {**data, **tokens.stored_fields(token)})
        return tokens.with_token(await stamps.stamped(store.engine, "clients", await public(ctx, "clients", data)), token)

    @router.get("/agents/{id}/mcps", tags=["agents"])
    async def agent_mcps(id: str) -> list[dict[str, Any]]:
        agent = await store.get("agents", id)
        out = []
        for mid in agent.get("mcpServers", []):
            if await store.exists("mcpServers", mid):
                out.append(await public(ctx, "mcpServers", await store.get("mcpServers", mid)))
        return out

    @router.put("/agents/{id}/mcps/{mcp_id}", tags=["agents"], status_code=204)
    async def link_mcp(id: str, mcp_id: str) -> Response:
        from magec.errors import ConflictError

        agent = await store.get("agents", id)
        await store.get("mcpServers", mcp_id)
        if mcp_id in agent.get("mcpServers", []):
            raise ConflictError("MCP server already linked to this agent")
        await store.update("agents", id, {**agent, "mcpServers": [*agent.get("mcpServers", []), mcp_id]})
        return Response(status_code=204)  # Magec: 204, no body

    @router.delete("/agents/{id}/mcps/{mcp_id}", tags=["agents"], status_code=204)
    async def unlink_mcp(id: str, mcp_id: str) -> Response:
        agent = await store.get("agents", id)
        if mcp_id not in agent.get("mcpServers", []):
            from magec.errors import NotFoundError

            raise NotFoundError(f"MCP server {mcp_id!r} is not linked to agent {id!r}")
        mcps = [m for m in agent.get("mcpServers", []) if m != mcp_id]
        await store.update("agents", id, {**agent, "mcpServers": mcps})
        return Response(status_code=204)

    return router
