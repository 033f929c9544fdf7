"""``POST /v1/completions``: OpenAI's legacy text completions, answered as OpenAI answers it for a
chat model — a 404 whose message says what to use instead.

Why not a turn: a legacy completion continues raw text (``prompt``, and ``suffix`` for the
fill-in-the-middle that Continue's tab autocomplete sends), with ``echo``, ``logprobs`` and
``best_of``; an agent answers a user message under its own system prompt, tools and memory. Run as
a turn, an autocomplete request would come back as a chatty reply pasted into the editor. Chat
platforms of the same kind (Open WebUI, LibreChat, Letta) serve chat completions only, and OpenAI
itself refuses a chat model here with ``404 "This is a chat model and not supported in the
v1/completions endpoint. Did you mean to use v1/chat/completions?"``, which the SDKs raise as
``NotFoundError``; LangChain's ``OpenAI`` LLM class and Continue show the message. Contract: the
caller is authenticated and ``model`` resolved as on ``/v1/chat/completions`` (401, 400/404
``model_not_found`` first); then 404 ``chat_model_only`` with ``param: "model"``, streamed or not.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from magec.api.errors import json_object
from magec.api.user.openai.turns import fresh_caller, model_name, resolve
from magec.context import AppContext
from magec.errors import ChatModelOnlyError


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["openai"])

    @r.post("/completions", summary="Legacy text completions: not for agents (404 saying to use /v1/chat/completions)")
    async def completions(request: Request) -> Response:
        body = await json_object(request)
        rt, caller = await fresh_caller(ctx, request)
        app = resolve(rt, caller, body.get("model"))
        raise ChatModelOnlyError(
            f"'{model_name(app)}' is a magec {app.kind} (a chat model) and not supported in the v1/completions "
            "endpoint (OpenAI's legacy text completions). Did you mean to use v1/chat/completions? Send the "
            "prompt as one user message there (or use v1/responses). For code autocomplete (fill-in-the-middle), "
            "point the tool at a model server that completes text itself, such as the agent's backend."
        )

    return r
