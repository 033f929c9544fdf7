"""``POST /v1/chat/completions``: chat with an agent or flow in OpenAI's shapes.

Contract: the request maps as :mod:`.messages` (system/developer → this turn's instructions,
history, ``role: "tool"`` answers) and :mod:`.params` (generation parameters, client tools,
``tool_choice``) say; the answer is a ``chat.completion`` (or ``chat.completion.chunk`` stream)
whose ``model`` is the agent's name. When the model calls a client tool the turn ends there:
``message.tool_calls`` and ``finish_reason: "tool_calls"``; the client's ``role: "tool"`` messages
continue it (stateless: with the whole conversation; ``X-Session-Id``: just the tool messages).
Agent-side tools (MCP, memory) run server-side and stay invisible unless the request opts in
with ``"magec_tool_events": true`` (an extension OpenAI clients ignore): then the message carries
``magec_tool_events: [{id, name, arguments, result}]`` (streamed: one chunk per call, delta
``{"magec_tool_event": {...}}``, sent when the turn is done). ``finish_reason`` is ``"length"``
when the model hit ``max_tokens``.

Failures: OpenAI's error object with the failure's status (:mod:`.errors`) — before the stream a
plain error answer; during a stream one error chunk, then the stream ends without
``finish_reason: "stop"`` and without ``[DONE]``, so no client mistakes it for a complete answer.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse

from magec.api import counts, file_uris
from magec.api.errors import json_object, status_for_code
from magec.api.limits import LISTEN_SECONDS, ClientDisconnected
from magec.api.streaming import PING, SseResponse
from magec.api.user.openai import messages as msgs
from magec.api.user.openai import params
from magec.api.user.openai.errors import error_object
from magec.api.user.openai.schemas import ChatCompletionRequest
from magec.api.user.openai.turns import (
    Conversation,
    client_calls,
    end_user,
    failed_answer,
    finish_reason,
    fresh_caller,
    model_name,
    resolve,
    server_tool_events,
    text_of,
    tool_calls_json,
    usage,
)
from magec.backends.relay import IDLE, Relay, Token, merged, relaying
from magec.context import AppContext
from magec.errors import BackendRateLimitError, ValidationError
from magec.runtime.run import TurnEvent


def failure(event: TurnEvent) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, OpenAI error body and headers of a failed turn's error event."""
    code = event.error_code
    status = 429 if code == BackendRateLimitError.code else status_for_code(code)
    headers = {"Retry-After": str(event.retry_after)} if event.retry_after is not None else {}
    param = "tools" if code == ValidationError.code else None
    return status, error_object(status, event.error_message or str(code), code, param), headers


def _significant(item: Any) -> bool:
    """Output a client reads, or the failure that ends the turn (the stream's headers wait for one)."""
    if isinstance(item, Token):
        return bool(item.text) and not item.thought
    return bool(item.error_code) or (item.visible and not item.is_user and bool(item.text))


def _usage_json(events: list[TurnEvent]) -> dict[str, int]:
    prompt, completion = usage(events)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["openai"])

    @r.post(
        "/chat/completions",
        summary="Chat with an agent or flow (OpenAI shapes)",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")}}}},
    )
    async def chat(request: Request) -> Response:
        body = await json_object(request)
        rt, caller = await fresh_caller(ctx, request)
        app = resolve(rt, caller, body.get("model"))
        counts.check_messages(body.get("messages"), "messages", ctx.config.max_messages)
        file_uris.check(ctx.config.allow_client_file_uris, rt.snapshot, app, v1=("messages", body.get("messages")))
        counts.check_tools(body.get("tools"))  # before the history is converted
        turn = await msgs.split_off_loop(body.get("messages"))
        overrides = params.overrides(body, turn.instructions, is_flow=app.kind == "flow")
        names = overrides.tool_names
        show_tools = body.get("magec_tool_events") is True
        user = caller.owner_key(end_user(body), "user")
        header_sid = request.headers.get("x-session-id")
        conv = await Conversation.open(rt, app, user, header_sid, turn)
        headers = {"X-Session-Id": conv.sid} if header_sid else {}
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        model = model_name(app)

        if not body.get("stream"):
            events, rest = await conv.complete(request, turn.new_message, overrides)
            later = BackgroundTask(rest)  # the turn's bookkeeping, once the answer is sent
            calls = client_calls(events, names)
            failed = failed_answer(events, bool(text_of(events) or calls))
            if failed is not None:
                status, error, more = failure(failed)
                return JSONResponse(error, status_code=status, headers={**headers, **more}, background=later)
            message: dict[str, Any] = {"role": "assistant", "content": text_of(events) or None}
            if calls:
                message["tool_calls"] = tool_calls_json(calls)
            elif message["content"] is None:
                message["content"] = ""
            if show_tools:
                message["magec_tool_events"] = server_tool_events(events, names)
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(events, calls),
                                 "logprobs": None}],
                    "usage": _usage_json(events),
                },
                headers=headers,
                background=later,
            )

        options = body.get("stream_options") or {}
        if not isinstance(options, dict):
            raise ValidationError("stream_options: must be an object", field="stream_options")
        include_usage = bool(options.get("include_usage"))

        # Headers wait for the turn's first output: a turn that fails before producing anything
        # answers with the error's own status (429 + Retry-After, 503, 504, …) like OpenAI, not a
        # 200 stream holding an error chunk. Failures after output still end the stream (below).
        # While the turn says nothing (a model thinking, a long tool call, a flow's silent step)
        # the relay is poked every second: a client that hung up is heard then (the turn is
        # cancelled), and after ``server.streamPing`` s of silence the stream opens anyway, with keep-alive
        # pings — a proxy in front would otherwise close the silent connection (nginx: 60 s).
        # The turn runs in its own task (magec.backends.relay), its output comes in batches:
        # everything ready when the stream looks goes out as one write. An agent's tokens come
        # through the relay; a flow's partial events carry the step that spoke, so it relays none.
        turn_events = conv.run(turn.new_message, overrides, streaming=True)
        relay = Relay()
        batches = relaying(turn_events, relay, tokens=app.kind == "agent")
        ahead: list[Any] = []
        silent = False
        loop = asyncio.get_running_loop()
        opened = loop.time()
        timer = loop.call_later(LISTEN_SECONDS, relay.poke)
        try:
            async for batch in batches:
                if batch[0] is IDLE:
                    if await request.is_disconnected():
                        raise ClientDisconnected()
                    if loop.time() - opened >= ctx.config.stream_ping:
                        silent = True
                        break
                    timer = loop.call_later(LISTEN_SECONDS, relay.poke)
                    continue
                ahead.extend(batch)
                if any(_significant(x) for x in batch):
                    break
        except BaseException:
            await batches.aclose()
            await conv.forget()
            raise
        finally:
            timer.cancel()
            relay.unpoke()
        first = next((x for x in ahead if _significant(x)), None)
        if isinstance(first, TurnEvent) and first.error_code:
            await batches.aclose()
            await conv.forget()
            status, error, more = failure(first)
            return JSONResponse(error, status_code=status, headers={**headers, **more})

        async def replay() -> AsyncIterator[list[Any]]:
            if ahead:
                yield ahead
            async for batch in batches:
                yield batch

        async def stream() -> AsyncIterator[bytes]:
            def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
                data = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                return f"data: {json.dumps(data)}\n\n".encode()

            # The per-token chunk: the same JSON as chunk({"content": text}), from a template.
            head, _, tail = chunk({"content": "\x00"}).decode().partition(json.dumps("\x00"))

            def content(text: str) -> bytes:
                return (head + json.dumps(text) + tail).encode()

            # the role chunk goes out with the first output (one write, one packet to the client)
            opening: list[bytes] = [chunk({"role": "assistant", "content": ""})]
            events: list[TurnEvent] = []
            streamed_authors: set[str] = set()
            last_author: str | None = None
            failed = False

            def speak(author: str, out: list[bytes]) -> None:
                nonlocal last_author
                if last_author is not None and author != last_author and author not in streamed_authors:
                    out.append(chunk({"content": "\n---\n"}))
                streamed_authors.add(author)
                last_author = author

            if silent:
                yield PING  # the turn said nothing yet: the opened stream shows it alive at once
            try:
                async for batch in replay():
                    answered = False
                    out, opening = opening, []
                    for item in merged(batch):  # consecutive relayed tokens: one chunk
                        if isinstance(item, Token):
                            if item.text and not item.thought:
                                speak(app.id, out)
                                out.append(content(item.text))
                            continue
                        event: TurnEvent = item
                        events.append(event)
                        answered = answered or event.final
                        if event.error_code:
                            # A failed stream ends here: one error chunk (the OpenAI SDKs raise on it),
                            # no finish_reason "stop", no usage, no [DONE].
                            _, error, _ = failure(event)
                            if event.retry_after is not None:
                                error["error"]["retry_after"] = event.retry_after
                            out.append(f"data: {json.dumps(error)}\n\n".encode())
                            failed = True
                            break
                        if not event.visible or event.is_user or not event.text:
                            continue
                        author = event.author_id
                        if event.partial:
                            speak(author, out)
                            out.append(content(event.text))
                        elif author not in streamed_authors:
                            # a non-streamed final (e.g. a backend that does not stream): send it whole
                            speak(author, out)
                            out.append(chunk({"content": event.text}))
                    if out:
                        yield b"".join(out)
                    if failed:
                        break
                    if answered:  # the stream ends now; the turn's bookkeeping goes on after it
                        relay.release()
                        break
            finally:
                await batches.aclose()
                if not relay.released:
                    await conv.forget()
            if failed:
                return
            if opening:
                yield b"".join(opening)
            calls = client_calls(events, names)
            if show_tools:
                for tool_event in server_tool_events(events, names):
                    yield chunk({"magec_tool_event": tool_event})
            for i, call in enumerate(tool_calls_json(calls)):
                yield chunk({"tool_calls": [{"index": i, **call}]})
            yield chunk({}, finish_reason(events, calls))
            if include_usage:
                data = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": _usage_json(events),
                }
                yield f"data: {json.dumps(data)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        async def after() -> None:
            if relay.released:
                await relay.rest()
                await conv.forget()

        # headers and the first chunk leave at once, from this task (magec.api.streaming)
        return SseResponse(stream(), ping=ctx.config.stream_ping, headers=headers,
                           background=BackgroundTask(after), eager=silent)

    return r
