"""``/v1/responses``: OpenAI's Responses API on an agent or flow (the OpenAI Agents SDK's default).

Contract:

* ``POST /v1/responses`` — ``input`` (a string or items: messages with ``input_text`` /
  ``input_image`` / ``output_text`` parts, ``function_call`` and ``function_call_output``),
  ``instructions`` (this turn's extra system text, like chat's system messages), ``tools`` (function
  tools, client-executed as on chat), ``tool_choice``, ``text.format`` (``json_object`` /
  ``json_schema`` → structured output), ``temperature``, ``top_p``, ``max_output_tokens``.
  Answer: a ``response`` object whose ``output`` holds a ``message`` item (``output_text``) and/or
  ``function_call`` items (then the client answers with ``function_call_output`` items). With
  ``stream: true``: the documented event sequence (``response.created``, ``…output_item.added``,
  ``…output_text.delta``, ``…function_call_arguments.delta``, ``…completed``; a failure ends with
  ``response.failed`` carrying ``error``).
* Conversation state: ``store`` (default true) keeps the turn in a stored session; the response
  ``id`` names it, so ``previous_response_id`` continues that session (only ``input``'s new items are
  used, the history is the session's). ``store: false`` is stateless (an in-memory session).
  ``conversation`` (an id or ``{"id"}``; not with ``previous_response_id``) names a stored session
  of the caller's instead, created on first use (``store`` then only says whether the response
  object is kept); the response echoes ``conversation: {"id"}``.
  A response id is only valid for the client (and ``user``) that created it: it carries the app,
  the end user and the session, and the session lookup is by the caller's owner key.
* ``GET /v1/responses/{id}`` returns a stored response, ``GET /v1/responses/{id}/input_items`` the
  items its request's ``input`` held (:mod:`.input_items`); ``DELETE`` forgets both (the session
  stays, it is the conversation). All 404 for ids of another client.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from google.adk.events import Event, EventActions
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse

from magec.agents.apps import App
from magec.agents.request_overrides import Overrides
from magec.api import counts, file_uris
from magec.api.errors import json_object
from magec.api.limits import parse_field
from magec.api.streaming import SseResponse
from magec.api.user.openai import input_items, params
from magec.api.user.openai import messages as msgs
from magec.api.user.openai.chat import failure
from magec.api.user.openai.schemas import ResponsesRequest
from magec.api.user.openai.turns import (
    Conversation,
    client_calls,
    end_user,
    failed_answer,
    fresh_caller,
    model_name,
    resolve,
    text_of,
    tool_calls_json,
    usage,
)
from magec.backends.relay import Relay, Token, merged, relaying
from magec.context import AppContext
from magec.errors import NotFoundError, ValidationError
from magec.memory import session_quota as quota
from magec.memory.session_base import MAX_SESSION_ID
from magec.runtime.build import Runtime
from magec.runtime.run import TurnEvent

STATE_KEY = "openai:response:"
#: a stored response's input items, beside it (same nonce)
INPUT_KEY = "openai:response-input:"


def _encode(app_id: str, user: str, sid: str) -> str:
    raw = json.dumps([app_id, user, sid, uuid.uuid4().hex[:12]], separators=(",", ":")).encode()
    return "resp_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(rid: Any, field: str) -> tuple[str, str, str, str]:
    if isinstance(rid, str) and rid.startswith("resp_"):
        data = rid[5:]
        try:
            text = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("utf-8")
            value = parse_field(text, field)
        except (ValueError, ValidationError):  # binascii.Error and UnicodeDecodeError included
            value = None  # not an id magec made: the same 404 as any unknown id
        if isinstance(value, list) and len(value) == 4 and all(isinstance(v, str) for v in value):
            return value[0], value[1], value[2], value[3]
    raise NotFoundError(f"{field}: no response with id {rid!r}", field=field)


def _conversation(raw: Any) -> str | None:
    """The Responses ``conversation`` (an id, or ``{"id": …}``) as the id of a session of the
    caller's, or None. magec has no Conversations API: the id names a session this client (and
    ``user``) owns with this agent — created by its first response, continued by the next, as
    ``X-Session-Id`` on chat completions; another client's same id is another session."""
    if raw is None:
        return None
    cid = raw.get("id") if isinstance(raw, dict) else raw
    if not isinstance(cid, str) or not cid.strip():
        raise ValidationError('conversation: must be a conversation id (a string, or {"id": "…"})', field="conversation")
    if len(cid) > MAX_SESSION_ID:
        raise ValidationError(f"conversation: must be at most {MAX_SESSION_ID} characters", field="conversation")
    return cid


def _items_to_messages(raw: Any, instructions: Any) -> list[dict[str, Any]]:
    """Responses ``input`` as chat messages (what :func:`messages.split` reads)."""
    out: list[dict[str, Any]] = []
    if instructions is not None:
        if not isinstance(instructions, str):
            raise ValidationError("instructions: must be a string", field="instructions")
        out.append({"role": "system", "content": instructions})
    if isinstance(raw, str):
        return [*out, {"role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw:
        raise ValidationError("input: must be a string or a non-empty list of items", field="input")
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValidationError(f"input[{i}]: must be an object", field=f"input[{i}]")
        kind = item.get("type") or "message"
        if kind == "message":
            out.append({"role": item.get("role"), "content": item.get("content")})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"}}
            if out and out[-1]["role"] == "assistant":
                out[-1].setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            out.append({"role": "tool", "tool_call_id": item.get("call_id"),
                        "content": output if isinstance(output, str | list) else json.dumps(output)})
        elif kind in ("reasoning", "item_reference"):
            continue  # nothing an agent can use
        else:
            raise ValidationError(f"input[{i}].type: unsupported item {kind!r}", field=f"input[{i}].type")
    return out


def _output(events: list[TurnEvent], names: set[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    text = text_of(events)
    if text:
        items.append({"type": "message", "id": f"msg_{uuid.uuid4().hex}", "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "text": text, "annotations": []}]})
    for call in tool_calls_json(client_calls(events, names)):
        items.append({"type": "function_call", "id": f"fc_{uuid.uuid4().hex}", "call_id": call["id"],
                      "name": call["function"]["name"], "arguments": call["function"]["arguments"],
                      "status": "completed"})
    return items


def _usage(events: list[TurnEvent]) -> dict[str, Any]:
    prompt, completion = usage(events)
    return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion,
            "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}


class _Shape:
    """The fixed fields of one response object."""

    def __init__(self, rid: str, app: App, body: dict[str, Any], overrides: Overrides) -> None:
        self.rid, self.model, self.created = rid, model_name(app), int(time.time())
        self.body, self.overrides = body, overrides

    def __call__(self, status: str, output: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
        b = self.body
        return {
            "id": self.rid, "object": "response", "created_at": self.created, "status": status,
            "model": self.model, "output": output, "error": None, "incomplete_details": None,
            "instructions": b.get("instructions"), "previous_response_id": b.get("previous_response_id"),
            "tools": b.get("tools") or [], "tool_choice": b.get("tool_choice") or "auto",
            "parallel_tool_calls": True, "temperature": b.get("temperature"), "top_p": b.get("top_p"),
            "max_output_tokens": b.get("max_output_tokens"), "text": b.get("text") or {"format": {"type": "text"}},
            "metadata": b.get("metadata") or {}, "store": b.get("store", True), "usage": None,
            "conversation": {"id": _conversation(b.get("conversation"))} if b.get("conversation") is not None else None,
            **more,
        }


async def _remember(rt: Runtime, app_id: str, user: str, sid: str, key: str, value: Any,
                    items: list[dict[str, Any]] | None = None) -> None:
    """Store (``value`` None: forget) the response ``key`` and its input items in its session."""
    svc = rt.session_service
    session = await svc.get_session(app_name=app_id, user_id=user, session_id=sid)
    if session is not None:
        delta = {STATE_KEY + key: value, INPUT_KEY + key: items if value is not None else None}
        event = Event(author="user", invocation_id=f"resp-{key[:8]}", actions=EventActions(state_delta=delta))
        # after an admitted turn (its answer is out) or a delete: counted, never refused
        quota.count(svc, user, [event])
        await svc.append_event(session, event)


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["openai"])

    @r.post("/responses", summary="Create a response (OpenAI Responses API) from an agent or flow",
            openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                "schema": ResponsesRequest.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
    async def create(request: Request) -> Response:
        body = await json_object(request)
        rt, caller = await fresh_caller(ctx, request)
        app = resolve(rt, caller, body.get("model"))
        raw_user = end_user(body)
        user = caller.owner_key(raw_user, "user")
        session_id = conversation = _conversation(body.get("conversation"))
        previous = body.get("previous_response_id")
        if previous is not None and conversation is not None:  # as OpenAI: one or the other
            raise ValidationError("conversation: cannot be combined with previous_response_id; send one of them",
                                  field="conversation")
        if previous is not None:
            try:
                p_app, p_user, session_id, _ = _decode(previous, "previous_response_id")
            except NotFoundError:
                p_app = p_user = session_id = ""
            found = None
            if session_id:
                found = await rt.session_service.get_session(app_name=app.id, user_id=user, session_id=session_id)
            if p_app != app.id or p_user != raw_user or found is None:  # as OpenAI: 400 naming the field
                raise ValidationError(f"previous_response_id: no response with id {previous!r}", field="previous_response_id")
        counts.check_messages(body.get("input"), "input", ctx.config.max_messages)
        file_uris.check(ctx.config.allow_client_file_uris, rt.snapshot, app, v1=("input", body.get("input")))
        counts.check_tools(body.get("tools"))  # before the items are converted
        turn = await msgs.split_off_loop(_items_to_messages(body.get("input"), body.get("instructions")))
        asked = input_items.as_items(body.get("input"))
        params.unsupported(body)
        cfg = params.config(body, max_keys=("max_output_tokens",))
        text = body.get("text")
        if text is not None and not isinstance(text, dict):
            raise ValidationError("text: must be an object", field="text")
        cfg.update(params.response_format((text or {}).get("format"), "text.format"))
        tools = params.function_tools(body.get("tools"), flat=True)
        if tools and app.kind == "flow":
            raise ValidationError("tools: client tools are offered to agents, not flows", field="tools")
        choice = params.tool_choice(body.get("tool_choice"), {t.name for t in tools if t.name}, flat=True)
        overrides = Overrides(turn.instructions, cfg, tools, choice if tools or choice != "required" else None)
        store = body.get("store", True) is not False
        conv = await Conversation.open(rt, app, user, session_id, turn, store=store)
        conv.surface = "responses"
        rid = _encode(app.id, raw_user, conv.sid)
        nonce = _decode(rid, "id")[3]
        shape = _Shape(rid, app, body, overrides)
        names = overrides.tool_names

        async def finish(events: list[TurnEvent]) -> dict[str, Any]:
            output = _output(events, names)
            failed = failed_answer(events, bool(output))
            if failed is not None:
                _, err, _ = failure(failed)
                obj = shape("failed", [], error={"code": err["error"]["code"], "message": err["error"]["message"]})
            else:
                obj = shape("completed", output, usage=_usage(events))
            # a turn refused before it ran (a limit, a budget: no invocation) stores nothing: a
            # client over its stored-conversation limit would otherwise grow it with each refusal
            if store and any(e.invocation_id for e in events):
                await _remember(rt, app.id, user, conv.sid, nonce, obj, asked)
            return obj

        if not body.get("stream"):
            events, rest = await conv.complete(request, turn.new_message, overrides)
            later = BackgroundTask(rest)  # the turn's bookkeeping, once the answer is sent
            failed = failed_answer(events, bool(_output(events, names)))
            if failed is not None:
                status, err, headers = failure(failed)
                if store:
                    await finish(events)
                return JSONResponse(err, status_code=status, headers=headers, background=later)
            return JSONResponse(await finish(events), background=later)

        async def stream() -> AsyncIterator[bytes]:
            seq = 0

            def sse(kind: str, **data: Any) -> bytes:
                nonlocal seq
                seq += 1
                return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': seq, **data})}\n\n".encode()

            yield sse("response.created", response=shape("in_progress", []))
            yield sse("response.in_progress", response=shape("in_progress", []))
            events: list[TurnEvent] = []
            msg_id = f"msg_{uuid.uuid4().hex}"
            streamed = ""
            authors: set[str] = set()
            turn_events = conv.run(turn.new_message, overrides, streaming=True)
            # The turn runs in its own task (magec.backends.relay), its output comes in batches:
            # consecutive tokens become one delta, everything ready goes out as one write. An
            # agent's tokens come through the relay; a flow's partial events carry the step that spoke.
            batches = relaying(turn_events, relay, tokens=app.kind == "agent")

            def delta(author: str, piece: str, out: list[bytes]) -> None:
                nonlocal streamed
                if author not in authors and authors:
                    piece = "\n---\n" + piece
                if not streamed:
                    out.append(sse("response.output_item.added", output_index=0, item={
                        "type": "message", "id": msg_id, "status": "in_progress", "role": "assistant", "content": []}))
                    out.append(sse("response.content_part.added", item_id=msg_id, output_index=0, content_index=0,
                                   part={"type": "output_text", "text": "", "annotations": []}))
                authors.add(author)
                streamed += piece
                out.append(sse("response.output_text.delta", item_id=msg_id, output_index=0, content_index=0,
                               delta=piece, logprobs=[]))

            try:
                failed = False
                async for batch in batches:
                    answered = False
                    out: list[bytes] = []
                    for item in merged(batch):
                        if isinstance(item, Token):
                            if item.text and not item.thought:
                                delta(app.id, item.text, out)
                            continue
                        event: TurnEvent = item
                        events.append(event)
                        answered = answered or event.final
                        if event.error_code:
                            failed = True
                            break
                        if not event.visible or event.is_user or not event.text:
                            continue
                        if not event.partial and event.author_id in authors:
                            continue  # the final of text already streamed
                        delta(event.author_id, event.text, out)
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
            final = await finish(events)
            if final["status"] == "failed":
                yield sse("response.failed", response=final)
                return
            index = 0
            for item in final["output"]:
                if item["type"] == "message":
                    item["id"] = msg_id
                    text_part = item["content"][0]
                    if not streamed:  # nothing was streamed (e.g. a backend that does not stream)
                        yield sse("response.output_item.added", output_index=0, item={**item, "content": [],
                                                                                     "status": "in_progress"})
                        yield sse("response.content_part.added", item_id=msg_id, output_index=0, content_index=0,
                                  part={"type": "output_text", "text": "", "annotations": []})
                        yield sse("response.output_text.delta", item_id=msg_id, output_index=0, content_index=0,
                                  delta=text_part["text"], logprobs=[])
                    yield sse("response.output_text.done", item_id=msg_id, output_index=0, content_index=0,
                              text=text_part["text"], logprobs=[])
                    yield sse("response.content_part.done", item_id=msg_id, output_index=0, content_index=0,
                              part=text_part)
                else:
                    yield sse("response.output_item.added", output_index=index,
                              item={**item, "arguments": "", "status": "in_progress"})
                    yield sse("response.function_call_arguments.delta", item_id=item["id"], output_index=index,
                              delta=item["arguments"])
                    yield sse("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                              arguments=item["arguments"], name=item["name"])
                yield sse("response.output_item.done", output_index=index, item=item)
                index += 1
            yield sse("response.completed", response=final)

        relay = Relay()

        async def after() -> None:
            if relay.released:
                await relay.rest()
                await conv.forget()

        return SseResponse(stream(), ping=ctx.config.stream_ping, background=BackgroundTask(after))

    async def stored(request: Request, rid: str) -> tuple[Runtime, str, str, str, dict[str, Any] | None]:
        rt, caller = await fresh_caller(ctx, request)
        app_id, raw_user, sid, nonce = _decode(rid, "response_id")
        user = caller.owner_key(raw_user, "user")
        session = None
        if caller.may_use(app_id):
            session = await rt.session_service.get_session(app_name=app_id, user_id=user, session_id=sid)
        value = session.state.get(STATE_KEY + nonce) if session is not None else None
        if not isinstance(value, dict):
            raise NotFoundError(f"response_id: no response with id {rid!r}", field="response_id")
        return rt, app_id, user, sid, value

    @r.get("/responses/{response_id}", summary="A stored response")
    async def retrieve(response_id: str, request: Request) -> dict[str, Any]:
        return (await stored(request, response_id))[4] or {}

    @r.get("/responses/{response_id}/input_items", summary="The input items of a stored response")
    async def list_input_items(response_id: str, request: Request) -> dict[str, Any]:
        rt, app_id, user, sid, _ = await stored(request, response_id)
        session = await rt.session_service.get_session(app_name=app_id, user_id=user, session_id=sid)
        nonce = _decode(response_id, "response_id")[3]
        items = session.state.get(INPUT_KEY + nonce) if session is not None else None
        return input_items.page(items if isinstance(items, list) else [], dict(request.query_params))

    @r.delete("/responses/{response_id}", summary="Forget a stored response (its conversation stays)")
    async def delete(response_id: str, request: Request) -> dict[str, Any]:
        rt, app_id, user, sid, _ = await stored(request, response_id)
        await _remember(rt, app_id, user, sid, _decode(response_id, "response_id")[3], None)
        return {"id": response_id, "object": "response", "deleted": True}

    return r
