"""``GET /v1/models`` and ``GET /v1/models/{model}``: the agents and flows this client may use.

``id`` is a readable id that survives renames (``research-bot-3ba775a8``: :mod:`.model_ids`),
``magec_id`` the agent's (or flow's) id, ``name`` its name (what Open WebUI shows); any of the
three works as ``model`` in a request. ``GET /v1/models/{model}`` takes any of them too and answers
404 ``model_not_found`` for anything this client may not use (an invalid agent is listed nowhere:
it cannot answer).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from magec.agents.apps import App
from magec.api.clients import authenticate
from magec.api.user.openai.model_ids import find_model, listed_ids_of, unknown_model
from magec.context import AppContext
from magec.runtime.build import Runtime


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["openai"])

    def card(rt: Runtime, a: App) -> dict[str, Any]:
        return {
            "id": listed_ids_of(rt)[a.id],
            "object": "model",
            "created": int(ctx.started_at),
            "owned_by": "magec",
            "name": a.name,
            "magec_id": a.id,
            "kind": a.kind,
            "description": a.description,
        }

    @r.get("/models", summary="Agents and flows as models")
    async def models(request: Request) -> dict[str, Any]:
        assert ctx.runtime is not None
        rt = await ctx.runtime.fresh()
        caller = authenticate(request, rt)
        data = [card(rt, a) for a in rt.apps.values() if caller.may_use(a.id) and a.status.valid]
        return {"object": "list", "data": data}

    @r.get("/models/{model:path}", summary="One agent or flow as a model (listed id, id or name)")
    async def model(model: str, request: Request) -> dict[str, Any]:
        assert ctx.runtime is not None
        rt = await ctx.runtime.fresh()
        caller = authenticate(request, rt)
        found = find_model(rt, caller.may_use, model)
        if found is None or not caller.may_use(found.id) or not found.status.valid:
            raise unknown_model(model, caller)
        return card(rt, found)

    return r
