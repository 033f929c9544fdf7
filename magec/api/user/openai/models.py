"""``GET /v1/models`` and ``GET /v1/models/{model}``: the agents and flows this client may use.

``id`` is the agent's (or flow's) id, ``name`` its name; either works as ``model`` in a request.
``GET /v1/models/{model}`` takes either too and answers 404 ``model_not_found`` for anything this
client may not use (an invalid agent is listed nowhere: it cannot answer).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from magec.agents.apps import App
from magec.api.clients import authenticate
from magec.context import AppContext
from magec.errors import UnknownModelError


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["openai"])

    def card(a: App) -> dict[str, Any]:
        return {
            "id": a.id,
            "object": "model",
            "created": int(ctx.started_at),
            "owned_by": "magec",
            "name": a.name,
            "kind": a.kind,
            "description": a.description,
        }

    @r.get("/models", summary="Agents and flows as models")
    async def models(request: Request) -> dict[str, Any]:
        assert ctx.runtime is not None
        rt = await ctx.runtime.fresh()
        caller = authenticate(request, rt)
        data = [card(a) for a in rt.apps.values() if caller.may_use(a.id) and a.status.valid]
        return {"object": "list", "data": data}

    @r.get("/models/{model:path}", summary="One agent or flow as a model (id or name)")
    async def model(model: str, request: Request) -> dict[str, Any]:
        assert ctx.runtime is not None
        rt = await ctx.runtime.fresh()
        caller = authenticate(request, rt)
        found = rt.find(model, caller.may_use, field="model")
        if found is None or not caller.may_use(found.id) or not found.status.valid:
            raise UnknownModelError(f"The model {model!r} does not exist or you do not have access to it.")
        return card(found)

    return r
