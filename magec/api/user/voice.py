"""Voice routes: ``POST /api/v1/voice/{agentId}/transcription`` and ``/speech``.

* ``/transcription`` takes ``multipart/form-data`` with a ``file`` part (wav, mp3, ogg/opus, webm,
  m4a) and optional ``language`` / ``prompt`` fields — or a raw ``audio/*`` body with those as query
  parameters — and answers ``{"text": ...}``.
* ``/speech`` takes JSON ``{input, response_format?}`` and streams the audio back with the
  provider's ``Content-Type`` as it arrives; errors before the first byte are JSON errors.
* ``?spokesperson=<agent id>`` picks the speaking agent of a flow.
* A spent budget (the client's, the app's agents' or the speaking agent's) is a 402
  ``budget_exceeded`` before the body is read, as a turn is refused (:func:`admit_spend`).
* The provider call is admitted like a turn (:func:`admit_call`): it counts towards
  ``limits.maxRuns``, ``maxRunsPerClient`` and ``maxRunsPerBackend`` while it runs (a speech
  stream until its last byte), and is refused beyond them (429/503 with ``Retry-After``) before
  the provider is called.

Bodies are read with a cap (``config.upload_limit_bytes``, default 25 MB) so an oversized upload
is refused with 413 without buffering it. The same router is mounted on the admin app under
``/api/v1/admin/voice`` (admin auth instead of client tokens).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.responses import StreamingResponse
from starlette.types import Message

from magec.api.clients import Caller, authenticate
from magec.api.limits import parse_json
from magec.context import AppContext
from magec.errors import MagecError, PayloadTooLargeError, ValidationError
from magec.redact import redact
from magec.runtime.build import Runtime
from magec.voice import VoiceTarget, locate, parse_speech_request, resolve, synthesize, transcribe

log = logging.getLogger(__name__)

#: room for multipart boundaries and the small form fields on top of the audio limit
MULTIPART_OVERHEAD = 64 * 1024
#: JSON bodies of /speech are small; this caps them independently of the upload limit
SPEECH_BODY_LIMIT = 1024 * 1024


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, or ``PayloadTooLargeError`` as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body is larger than the {limit} bytes allowed")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body is larger than the {limit} bytes allowed")
        parts.append(chunk)
    return b"".join(parts)


def _replay(request: Request, body: bytes) -> Request:
    """A request over the same scope whose body is ``body`` (already read)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


async def read_audio_upload(request: Request, limit: int) -> tuple[bytes, str | None, dict[str, str]]:
    """``(audio, declared content type, form fields)`` of a multipart or raw-audio request."""
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        body = await read_capped(request, limit + MULTIPART_OVERHEAD)
        form = await _replay(request, body).form(max_files=4, max_fields=32)
        fields: dict[str, str] = {}
        upload: UploadFile | None = None
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
            elif key == "file" and upload is None:
                upload = value
        if upload is None:
            raise ValidationError("file: is required (multipart field 'file')", field="file")
        data = await upload.read()
        return data, upload.content_type, fields
    if ctype.startswith(("audio/", "video/", "application/octet-stream")):
        data = await read_capped(request, limit + 1)
        return data, ctype, dict(request.query_params)
    raise ValidationError(
        "expected multipart/form-data with a 'file' part (or a raw audio/* body)", field="file"
    )


def admit_spend(ctx: AppContext, rt: Runtime, caller: Caller, app_id: str, speaker: str | None = None) -> None:
    """Refuse a speech or embeddings call of a spent budget — the caller's client, or the agent
    (``speaker``: whose voice it is) — with the 402 a turn gets: those calls cost provider money
    too (docs/costs.md). Before the body is read or the provider called."""
    costs = ctx.extras.get("costs")
    if costs is not None:
        costs.check_call(rt, caller.client_id, app_id, speaker)


def admit_call(ctx: AppContext, caller: Caller, backends: Iterable[str]) -> Callable[[], None]:
    """Admit a provider call made for a caller outside a turn (speech, transcription, embeddings)
    as a turn is admitted (:mod:`magec.runtime.admission`): one more of ``limits.maxRuns``, of the
    client's ``maxRunsPerClient`` and of each backend's ``maxRunsPerBackend`` until the returned
    release is called (idempotent), or the same refusal a turn gets (429/503 with ``Retry-After``).

    Unadmitted, one client held any number of such calls at once: past ``maxRunsPerClient``, and
    past a backend's HTTP pool, which is sized from these limits (:mod:`magec.backends._limits`),
    so every other client's admitted turns on that backend waited for a connection."""
    admission = ctx.extras.get("admission")
    if admission is None:
        return lambda: None
    return admission.enter(caller.client_id or "", backends).release  # type: ignore[no-any-return]


#: where the user app serves the voice routes
PREFIX = "/api/v1/voice"
#: the audio upload route, under :data:`PREFIX` (user app) and the admin voice prefix; its body
#: limit is ``limits.uploadBytes`` (:func:`magec.api.limits.install` matches these paths exactly)
TRANSCRIPTION = "/{agent_id}/transcription"


def voice_router(ctx: AppContext, caller_of: Callable[[Request, Runtime], Caller]) -> APIRouter:
    """The two voice routes; ``caller_of`` authenticates and authorises the caller."""
    r = APIRouter(tags=["voice"])

    async def runtime() -> Runtime:
        assert ctx.runtime is not None
        return await ctx.runtime.fresh()

    def usage() -> Any:
        return ctx.runtime.usage if ctx.runtime is not None else None

    @r.post(TRANSCRIPTION, summary="Transcribe audio with the agent's speech-to-text backend")
    async def transcription(agent_id: str, request: Request, spokesperson: str | None = None) -> dict[str, str]:
        rt = await runtime()
        caller = caller_of(request, rt)
        app = locate(rt.snapshot, agent_id)
        caller.check(app.id)
        target = resolve(rt.snapshot, app, "stt", spokesperson)
        admit_spend(ctx, rt, caller, app.id, target.agent.id)
        limit = ctx.config.upload_limit_bytes
        audio, declared, fields = await read_audio_upload(request, limit)
        release = admit_call(ctx, caller, target.backend_ids())
        try:
            text = await transcribe(
                target,
                audio,
                declared,
                usage(),
                limit=limit,
                language=fields.get("language"),
                prompt=fields.get("prompt"),
            )
        finally:
            release()
        return {"text": text}

    @r.post("/{agent_id}/speech", summary="Synthesise speech with the agent's text-to-speech backend")
    async def speech(agent_id: str, request: Request, spokesperson: str | None = None) -> Response:
        rt = await runtime()
        caller = caller_of(request, rt)
        app = locate(rt.snapshot, agent_id)
        caller.check(app.id)
        target = resolve(rt.snapshot, app, "tts", spokesperson)
        admit_spend(ctx, rt, caller, app.id, target.agent.id)
        raw = await read_capped(request, SPEECH_BODY_LIMIT)
        if not raw.strip():
            raise ValidationError("request body is required: {\"input\": \"...\"}", field="input")
        body = parse_json(raw)
        text, fmt = parse_speech_request(body)
        return await speech_response(ctx, caller, target, text, fmt, usage())

    return r


async def speech_response(
    ctx: AppContext, caller: Caller, target: VoiceTarget, text: str, fmt: str | None, usage: Any
) -> StreamingResponse:
    """Synthesise ``text`` for ``caller`` and stream it: admitted like a turn (:func:`admit_call`)
    until its last byte or the client's hang-up; a provider that breaks after the first byte is
    logged (the status line is sent by then)."""
    release = admit_call(ctx, caller, target.backend_ids())
    try:
        result = await synthesize(target, text, fmt, usage)
    except BaseException:
        release()
        raise

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for chunk in result.chunks:
                yield chunk
        except MagecError as err:
            log.warning("speech stream for %s broke after the first byte: %s", target.agent.id, redact(str(err)))
            raise
        finally:
            release()

    return StreamingResponse(
        stream(),
        media_type=result.content_type,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(release),  # a hang-up may leave the stream unfinished
    )


def router(ctx: AppContext) -> APIRouter:
    """The user app's voice routes: ``/api/v1/voice/*`` with client-token auth."""
    r = APIRouter()
    r.include_router(voice_router(ctx, authenticate), prefix=PREFIX)
    return r
