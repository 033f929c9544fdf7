"""OpenAI-compatible surface: every agent and flow is a model.

* ``GET /v1/models`` — the apps this client may use (``id`` = agent/flow id, ``name`` its name).
* ``POST /v1/chat/completions`` — ``model`` is an app id or name; streaming or not, with the usual
  ``chat.completion`` / ``chat.completion.chunk`` shapes, so any OpenAI client can talk to magec.

Conversation continuity: send ``X-Session-Id`` (any id you choose; the reply echoes it) and only the
new message is used, the history coming from the stored session. Session ids are per client (and per
``user`` within a client): another client's id names a different, new conversation. Without it the call is stateless, as
in the OpenAI API: the earlier ``messages`` (user/assistant) are the history, held in an in-memory
session for the duration of the call only (no database round trips, nothing stored). The agent's own system
prompt applies; client ``system`` messages are added as context to the first user turn.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from google.adk.events import Event
from google.genai import types
from starlette.responses import JSONResponse, StreamingResponse

from magec.agents.apps import App
from magec.api.clients import authenticate
from magec.api.errors import json_body, status_for_code
from magec.api.limits import until_disconnected
from magec.context import AppContext
from magec.errors import BackendRateLimitError, ValidationError
from magec.runtime.build import Runtime
from magec.runtime.run import TurnEvent, ensure_session, require_app, run_turn

#: documented request body (read by hand, so FastAPI cannot infer it); it also lets generated test
#: corpora reach the body validation
CHAT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["model", "messages"],
                    "properties": {
                        "model": {"type": "string", "description": "agent or flow id or name"},
                        "messages": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                                    "content": {"type": ["string", "array"]},
                                },
                            },
                        },
                        "stream": {"type": "boolean"},
                        "stream_options": {"type": "object"},
                        "user": {"type": "string"},
                    },
                }
            }
        },
    }
}


def _parts(content: Any, field: str) -> list[types.Part]:
    if isinstance(content, str):
        return [types.Part.from_text(text=content)]
    if not isinstance(content, list):
        raise ValidationError(f"{field}: must be a string or a list of content parts", field=field)
    parts: list[types.Part] = []
    for i, item in enumerate(content):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text":
            parts.append(types.Part.from_text(text=str(item.get("text", ""))))
        elif kind == "image_url":
            image = item.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                where = f"{field}[{i}].image_url.url"
                raise ValidationError(f"{where}: must be a string", field=where)
            url = image["url"]
            if url.startswith("data:") and ";base64," in url:
                mime, data = url[5:].split(";base64,", 1)
                try:
                    decoded = base64.b64decode(data, validate=True)
                except binascii.Error:
                    where = f"{field}[{i}].image_url.url"
                    raise ValidationError(f"{where}: the data URL is not valid base64", field=where) from None
                parts.append(types.Part.from_bytes(data=decoded, mime_type=mime))
            else:
                parts.append(types.Part(file_data=types.FileData(file_uri=url, mime_type="image/*")))
        else:
            raise ValidationError(
                f"{field}[{i}].type: unsupported content part {kind!r}", field=f"{field}[{i}].type"
            )
    return parts


def _texts(events: list[TurnEvent]) -> str:
    """Final text of the turn: response agents' output, joined with ``\\n---\\n`` for flows."""
    chunks = [e.text for e in events if not e.partial and e.visible and not e.is_user]
    return "\n---\n".join(c for c in chunks if c)


def _usage(events: list[TurnEvent]) -> dict[str, int]:
    prompt = completion = 0
    for e in events:
        meta = e.usage
        if meta is not None and not e.partial:
            prompt += int(meta.prompt_token_count or 0)
            completion += int(meta.candidates_token_count or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _seed_history(svc: Any, app: App, user: str, sid: str, history: list[dict[str, Any]]) -> None:
    if not any(m.get("role") in ("user", "assistant") for m in history):
        return
    session = await svc.get_session(app_name=app.id, user_id=user, session_id=sid)
    assert session is not None
    author = next(iter(app.authors), app.id)
    for i, msg in enumerate(history):
        role = msg.get("role")
        if role not in ("user", "assistant"):
            continue
        content = types.Content(
            role="user" if role == "user" else "model",
            parts=_parts(msg.get("content") or "", f"messages[{i}].content"),
        )
        await svc.append_event(
            session,
            Event(
                author="user" if role == "user" else author,
                content=content,
                invocation_id=f"seed-{uuid.uuid4().hex[:8]}",
            ),
        )


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["openai"])

    async def runtime() -> Runtime:
        assert ctx.runtime is not None
        return await ctx.runtime.fresh()

    @r.get("/models", summary="Agents and flows as models")
    async def models(request: Request) -> dict[str, Any]:
        rt = await runtime()
        caller = authenticate(request, rt)
        data = [
            {
                "id": a.id,
                "object": "model",
                "created": int(ctx.started_at),
                "owned_by": "magec",
                "name": a.name,
                "kind": a.kind,
                "description": a.description,
            }
            for a in rt.apps.values()
            if caller.may_use(a.id) and a.status.valid
        ]
        return {"object": "list", "data": data}

    @r.post("/chat/completions", summary="Chat with an agent or flow (OpenAI shapes)", openapi_extra=CHAT_BODY)
    async def chat(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ValidationError("request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ValidationError("model: is required (an agent or flow id or name)", field="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise ValidationError("messages: must be a non-empty list of messages", field="messages")
        rt = await runtime()
        caller = authenticate(request, rt)
        found = rt.find(model)
        if found is not None:
            caller.check(found.id)
        app = require_app(rt, model)
        last_index = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        if last_index < 0:
            raise ValidationError("messages: at least one user message is required", field="messages")
        parts = _parts(messages[last_index].get("content") or "", f"messages[{last_index}].content")
        # The stored owner is "<clientId>:<user>" (Caller.owner_key): two clients sending the same
        # X-Session-Id (or no `user`, i.e. "openai") hold two separate conversations.
        user = caller.owner_key(str(body.get("user") or "openai"), "user")
        header_sid = request.headers.get("x-session-id")
        runner = None
        if header_sid:
            sid = await ensure_session(rt, app, user, header_sid)
            headers = {"X-Session-Id": sid}
        else:
            runner = app.ephemeral_runner()
            svc = runner.session_service
            sid = (await svc.create_session(app_name=app.id, user_id=user)).id
            headers = {}
            system = [str(m.get("content")) for m in messages[:last_index] if m.get("role") == "system"]
            if system:
                parts.insert(0, types.Part.from_text(text="Context from the client:\n" + "\n".join(system)))
            await _seed_history(svc, app, user, sid, messages[:last_index])
        message = types.Content(role="user", parts=parts)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())

        async def forget() -> None:
            if runner is not None:
                await runner.session_service.delete_session(app_name=app.id, user_id=user, session_id=sid)

        if not body.get("stream"):

            async def turn() -> list[TurnEvent]:
                return [e async for e in run_turn(rt, app, user, sid, message, streaming=False, runner=runner)]

            try:
                # a client that hangs up cancels the turn (and its provider calls)
                events = await until_disconnected(request, turn())
            finally:
                await forget()
            failed = [e for e in events if e.error_code]
            if failed and not _texts(events):
                # the status of the failure's class (504 timeout, 503 unavailable, …); a provider's
                # 429 that outlived the retries is passed on as 429 with its Retry-After
                last = failed[-1]
                status = 429 if last.error_code == BackendRateLimitError.code else status_for_code(last.error_code)
                if last.retry_after is not None:
                    headers = {**headers, "Retry-After": str(last.retry_after)}
                return JSONResponse(
                    {"error": last.error_message, "code": last.error_code}, status_code=status, headers=headers
                )
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": app.id,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": _texts(events)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": _usage(events),
                },
                headers=headers,
            )

        options = body.get("stream_options") or {}
        if not isinstance(options, dict):
            raise ValidationError("stream_options: must be an object", field="stream_options")
        include_usage = bool(options.get("include_usage"))

        async def stream() -> AsyncIterator[bytes]:
            def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
                data = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": app.id,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                return f"data: {json.dumps(data)}\n\n".encode()

            # The per-token chunk: the same JSON as chunk({"content": text}), from a template.
            head, _, tail = chunk({"content": "\x00"}).decode().partition(json.dumps("\x00"))

            def content(text: str) -> bytes:
                return (head + json.dumps(text) + tail).encode()

            yield chunk({"role": "assistant", "content": ""})
            events: list[TurnEvent] = []
            streamed_authors: set[str] = set()
            last_author: str | None = None
            failed = False
            turn = run_turn(rt, app, user, sid, message, streaming=True, runner=runner)
            try:
                async for event in turn:
                    events.append(event)
                    if event.error_code:
                        # A failed stream ends here: one error chunk (the OpenAI SDKs raise on it),
                        # no finish_reason "stop", no usage, no [DONE] — so no client mistakes it
                        # for a complete answer.
                        error: dict[str, Any] = {
                            "message": event.error_message,
                            "type": event.error_code,
                            "code": event.error_code,
                        }
                        if event.retry_after is not None:
                            error["retry_after"] = event.retry_after
                        yield f"data: {json.dumps({'error': error})}\n\n".encode()
                        failed = True
                        break
                    if not event.visible or event.is_user:
                        continue
                    text = event.text
                    if not text:
                        continue
                    author = event.author_id
                    if event.partial:
                        if (
                            last_author is not None
                            and author != last_author
                            and author not in streamed_authors
                        ):
                            yield chunk({"content": "\n---\n"})
                        streamed_authors.add(str(author))
                        last_author = author
                        yield content(text)
                    elif author not in streamed_authors:
                        # a non-streamed final (e.g. a backend that does not stream): send it whole
                        if last_author is not None:
                            yield chunk({"content": "\n---\n"})
                        last_author = author
                        streamed_authors.add(str(author))
                        yield chunk({"content": text})
            finally:
                await turn.aclose()
                await forget()
            if failed:
                return
            yield chunk({}, "stop")
            if include_usage:
                data = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": app.id,
                    "choices": [],
                    "usage": _usage(events),
                }
                yield f"data: {json.dumps(data)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    return r
