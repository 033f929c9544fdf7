"""The playground: the run API on the admin app (admin auth; every event visible with its author),
with the sessions' artifact routes (:mod:`magec.api.user.artifacts`)."""

from __future__ import annotations

from fastapi import APIRouter

from magec.api.clients import OPEN
from magec.api.user.agent import agent_router
from magec.api.user.artifacts import artifact_router
from magec.context import AppContext


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter()
    r.include_router(agent_router(ctx, lambda _req, _rt: OPEN, user_view=False), prefix="/agent")
    r.include_router(artifact_router(ctx, lambda _req, _rt: OPEN, user_view=False), prefix="/agent")
    return r
