"""OpenAI-compatible surface (``/v1``): every agent and flow is a model.

Modules: :mod:`.models` (``/v1/models``), :mod:`.chat` (``/v1/chat/completions``),
:mod:`.responses` (``/v1/responses``), :mod:`.legacy` (``/v1/completions``: a 404 saying what
to use), :mod:`.media` (``/v1/embeddings``, ``/v1/audio/*``), with
:mod:`.messages` (messages → one ADK turn), :mod:`.params` (generation parameters and client
tools → per-request overrides), :mod:`.turns` (model resolution, sessions, reading the answer),
:mod:`.errors` (OpenAI's error object on every ``/v1`` error) and :mod:`.schemas` (documented
bodies). The user guide is ``docs/openai.md``.

Conversation continuity: ``X-Session-Id`` (echoed) names a stored session, per client and
``user``; without it a call is stateless — the client's messages are the history, held in memory
for the call only.
"""

from __future__ import annotations

from fastapi import APIRouter

from magec.api.routing import GatedRouter
from magec.context import AppContext


def router(ctx: AppContext) -> APIRouter:
    from magec.api.user.openai import chat, legacy, media, models, responses

    r = GatedRouter(("/v1/",))  # api/routing.py: other paths are turned away at once
    for sub in (models.router(ctx), chat.router(ctx), legacy.router(ctx), responses.router(ctx), media.router(ctx)):
        r.include_router(sub)
    return r
