"""``/v1/embeddings``, ``/v1/audio/transcriptions`` and ``/v1/audio/speech``: ``model`` is an agent.

Contract:

* ``POST /v1/embeddings`` — ``model`` names an agent or flow this client may use; the vectors come
  from the embedding model of the active long-term memory provider (``settings.longTermProvider``,
  its ``embedding {backend, model}``; the primary only, so vectors compare with the stored
  memories). ``input`` is a string or a list of strings (token arrays: 400);
  ``encoding_format: "base64"`` (the OpenAI SDKs' default) packs little-endian float32. No
  provider with an embedding model: 400 naming ``model``.
* ``POST /v1/audio/transcriptions`` — multipart ``file`` + ``model`` (+ ``language``, ``prompt``,
  ``response_format`` ``json`` / ``text`` / ``verbose_json``): the agent's speech-to-text (with its
  fallbacks), exactly as ``/api/v1/voice/{agent}/transcription``.
* ``POST /v1/audio/speech`` — ``{model, input, response_format?}``: the agent's text-to-speech
  voice streams back (the agent's configured voice; ``voice`` and ``speed`` are accepted and the
  agent's own settings win, so an agent always sounds like itself).

Unknown model / not allowed: 404 ``model_not_found``; voice or embeddings not configured: 503 /
400 as the voice routes answer; a spent budget of the client or the agent: 402 ``budget_exceeded``
before the provider is called, as a turn is refused (docs/costs.md). Each provider call is admitted
like a turn (``limits.maxRuns`` / ``maxRunsPerClient`` / ``maxRunsPerBackend``: 503 / 429 / 503
with ``Retry-After``, :func:`magec.api.user.voice.admit_call`).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.responses import JSONResponse, PlainTextResponse

from magec.api.clients import Caller
from magec.api.errors import json_object
from magec.api.limits import parse_json
from magec.api.user.openai.model_ids import find_model, unknown_model
from magec.api.user.openai.schemas import EmbeddingsRequest, SpeechRequest
from magec.api.user.openai.turns import fresh_caller, model_field
from magec.api.user.voice import (
    SPEECH_BODY_LIMIT,
    admit_call,
    admit_spend,
    read_audio_upload,
    read_capped,
    speech_response,
)
from magec.context import AppContext
from magec.errors import ValidationError
from magec.memory.runtime_hook import embedder_for
from magec.runtime.build import Runtime
from magec.voice import AppRef, locate, parse_speech_request, resolve, transcribe


def _body_doc(model: type[Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _app(rt: Runtime, caller: Caller, model: Any) -> tuple[AppRef, str]:
    """The agent or flow named ``model`` and its display name; 404 model_not_found otherwise."""
    model = model_field(model)
    found = find_model(rt, caller.may_use, model)
    if found is None or not caller.may_use(found.id):
        raise unknown_model(model, caller)
    return locate(rt.snapshot, found.id), found.name or found.id


#: inputs per ``/v1/embeddings`` request (OpenAI's limit)
MAX_EMBEDDING_INPUTS = 2048


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["openai"])

    def usage() -> Any:
        return ctx.runtime.usage if ctx.runtime is not None else None

    @r.post("/embeddings", summary="Embeddings from the memory embedding model (model = an agent)",
            openapi_extra=_body_doc(EmbeddingsRequest))
    async def embeddings(request: Request) -> dict[str, Any]:
        body = await json_object(request)
        rt, caller = await fresh_caller(ctx, request)
        app, name = _app(rt, caller, body.get("model"))
        admit_spend(ctx, rt, caller, app.id)
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            # LangChain's OpenAIEmbeddings sends token ids by default (tokenised with tiktoken for an
            # OpenAI model): its users met this refusal without knowing they sent tokens
            raise ValidationError("input: must be a string or a non-empty list of strings; token arrays are not "
                                  "supported (the embedding model has its own tokenizer): send the text. LangChain: "
                                  "OpenAIEmbeddings(..., check_embedding_ctx_length=False)", field="input")
        if len(texts) > MAX_EMBEDDING_INPUTS:
            # OpenAI's own limit: one request of a million one-character strings (within the body
            # limit) would otherwise become that many vectors held and encoded in one answer
            raise ValidationError(f"input: at most {MAX_EMBEDDING_INPUTS} inputs per request "
                                  f"(got {len(texts)})", field="input")
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise ValidationError("encoding_format: must be float or base64", field="encoding_format")
        size = body.get("dimensions")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValidationError("dimensions: must be a positive integer", field="dimensions")
        snap = rt.snapshot
        pid = snap.settings.long_term_provider
        provider = snap.memory_providers.get(pid) if pid else None
        embedder = embedder_for(snap, provider.embedding.backend, provider.embedding.model) if provider else None
        if embedder is None:
            raise ValidationError("model: no embedding model is configured (select a long-term memory provider "
                                  "with an embedding backend and model)", field="model")
        release = admit_call(ctx, caller, [provider.embedding.backend] if provider else [])
        try:
            vectors = await embedder.embed(texts)
        finally:
            release()
        if size is not None and vectors and len(vectors[0]) != size:
            # the memory's model has one size (its vectors must compare with stored memories):
            # shortening them would silently change what they mean, so say what it returns
            raise ValidationError(f"dimensions: this model returns {len(vectors[0])}-dimensional vectors; "
                                  "omit dimensions or ask for that size", field="dimensions")
        data: list[dict[str, Any]] = []
        for i, v in enumerate(vectors):
            value: Any = v if fmt == "float" else base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode()
            data.append({"object": "embedding", "index": i, "embedding": value})
        tokens = sum(len(t.split()) for t in texts)  # providers' counts are not passed on; words approximate
        return {"object": "list", "data": data, "model": name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    @r.post("/audio/transcriptions", summary="Speech to text through an agent's voice (model = the agent)")
    async def transcriptions(request: Request) -> Response:
        rt, caller = await fresh_caller(ctx, request)
        limit = ctx.config.upload_limit_bytes
        audio, declared, fields = await read_audio_upload(request, limit)
        app, _ = _app(rt, caller, fields.get("model"))
        target = resolve(rt.snapshot, app, "stt")
        admit_spend(ctx, rt, caller, app.id, target.agent.id)
        release = admit_call(ctx, caller, target.backend_ids())
        try:
            text = await transcribe(target, audio, declared, usage(), limit=limit,
                                    language=fields.get("language"), prompt=fields.get("prompt"))
        finally:
            release()
        fmt = fields.get("response_format") or "json"
        if fmt == "text":
            return PlainTextResponse(text)
        if fmt not in ("json", "verbose_json"):
            raise ValidationError("response_format: must be json, text or verbose_json", field="response_format")
        out: dict[str, Any] = {"text": text}
        if fmt == "verbose_json":
            out.update({"task": "transcribe", "language": fields.get("language") or "", "segments": []})
        return JSONResponse(out)

    @r.post("/audio/speech", summary="Text to speech in an agent's voice (model = the agent)",
            openapi_extra=_body_doc(SpeechRequest))
    async def speech(request: Request) -> Response:
        rt, caller = await fresh_caller(ctx, request)
        raw = await read_capped(request, SPEECH_BODY_LIMIT)
        body = parse_json(raw)
        if not isinstance(body, dict):
            raise ValidationError("request body must be a JSON object")
        app, _ = _app(rt, caller, body.get("model"))
        target = resolve(rt.snapshot, app, "tts")
        admit_spend(ctx, rt, caller, app.id, target.agent.id)
        text, fmt = parse_speech_request(body)
        return await speech_response(ctx, caller, target, text, fmt, usage())

    return r
