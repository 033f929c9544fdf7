"""OpenAI ``messages`` → one ADK turn: instructions, history and the new message.

Contract of :func:`split`:

* ``system`` and ``developer`` messages (anywhere in the list) become the turn's *instructions*:
  appended to the agent's own system prompt as a separate paragraph for this turn only (see
  :mod:`magec.agents.request_overrides`), on stateless and ``X-Session-Id`` calls alike — never
  glued to the user's text;
* the *new message* is the trailing run of ``user`` / ``tool`` messages after the last
  ``assistant`` message: user content parts (text, images as data or URLs, ``input_audio``, files)
  and ``role: "tool"`` answers as ``FunctionResponse`` parts carrying the ``tool_call_id``;
* everything before it is the *history*: for a stateless call it is seeded into the in-memory
  session (:func:`seed`) — assistant ``tool_calls`` as function calls, tool answers as function
  responses — so the model sees the conversation as the client sent it; with ``X-Session-Id`` the
  stored session is the history and the client's copy is ignored.

Bad input is a :class:`~magec.errors.ValidationError` naming the field (``messages[3].content``).
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from google.adk.events import Event
from google.genai import types

from magec import heap
from magec.agents.apps import App
from magec.api.limits import parse_field
from magec.backends import prebuilt
from magec.errors import ValidationError
from magec.loop import off_loop
from magec.memory.session_quota import reserve

_ROLES = ("system", "developer", "user", "assistant", "tool")
_AUDIO = {"wav": "audio/wav", "mp3": "audio/mpeg"}


def _data_url(url: str, where: str) -> types.Part:
    mime, data = url[5:].split(";base64,", 1)
    try:
        decoded = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValidationError(f"{where}: the data URL is not valid base64", field=where) from None
    return types.Part.from_bytes(data=decoded, mime_type=mime)


def _b64(data: Any, where: str) -> bytes:
    if not isinstance(data, str):
        raise ValidationError(f"{where}: must be a base64 string", field=where)
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValidationError(f"{where}: is not valid base64", field=where) from None


def parts(content: Any, where: str) -> list[types.Part]:
    """User content (a string or a list of content parts) as ADK parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [prebuilt.text_part(content)]
    if not isinstance(content, list):
        raise ValidationError(f"{where}: must be a string or a list of content parts", field=where)
    out: list[types.Part] = []
    for i, item in enumerate(content):
        kind = item.get("type") if isinstance(item, dict) else None
        at = f"{where}[{i}]"
        if kind in ("text", "input_text", "output_text"):
            out.append(prebuilt.text_part(str(item.get("text", ""))))
        elif kind in ("image_url", "input_image"):
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                where_url = f"{at}.image_url.url" if kind == "image_url" else f"{at}.image_url"
                raise ValidationError(f"{where_url}: must be a string", field=where_url)
            if url.startswith("data:") and ";base64," in url:
                out.append(_data_url(url, f"{at}.image_url"))
            else:
                out.append(types.Part(file_data=types.FileData(file_uri=url, mime_type="image/*")))
        elif kind == "input_audio":
            audio = item.get("input_audio")
            if not isinstance(audio, dict):
                raise ValidationError(f"{at}.input_audio: must be an object", field=f"{at}.input_audio")
            fmt = str(audio.get("format") or "wav")
            if fmt not in _AUDIO:
                raise ValidationError(f"{at}.input_audio.format: must be wav or mp3", field=f"{at}.input_audio.format")
            data = _b64(audio.get("data"), f"{at}.input_audio.data")
            out.append(types.Part.from_bytes(data=data, mime_type=_AUDIO[fmt]))
        elif kind in ("file", "input_file"):
            file = item.get("file") if kind == "file" else item
            url = file.get("file_data") if isinstance(file, dict) else None
            if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
                raise ValidationError(f"{at}.file.file_data: must be a base64 data URL", field=f"{at}.file.file_data")
            out.append(_data_url(url, f"{at}.file.file_data"))
        else:
            raise ValidationError(f"{at}.type: unsupported content part {kind!r}", field=f"{at}.type")
    return out


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _args(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if raw in (None, ""):
        return {}
    # a string: parsed like a body (depth, NaN, digits, strings), a failure names the field
    value = parse_field(raw, where) if isinstance(raw, str) else None
    if not isinstance(value, dict):
        raise ValidationError(f"{where}: must be a JSON object (as a string)", field=where)
    return value


def _calls(msg: dict[str, Any], where: str) -> list[types.Part]:
    raw = msg.get("tool_calls") or []
    if not isinstance(raw, list):
        raise ValidationError(f"{where}.tool_calls: must be a list", field=f"{where}.tool_calls")
    out: list[types.Part] = []
    for j, call in enumerate(raw):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            at = f"{where}.tool_calls[{j}].function.name"
            raise ValidationError(f"{at}: is required", field=at)
        args = _args(fn.get("arguments"), f"{where}.tool_calls[{j}].function.arguments")
        out.append(types.Part(function_call=types.FunctionCall(id=call.get("id"), name=fn["name"], args=args)))
    return out


def _response(content: Any, where: str) -> dict[str, Any]:
    """A tool message's content: a JSON object as itself, anything else (plain text, or JSON magec
    would refuse in a body: too deep, NaN, …) as ``{"result": text}`` (the text passed the body's
    own checks, so it is safe to store as it is)."""
    text = _text(content)
    try:
        value = parse_field(text, where)
    except ValidationError:
        value = None
    return value if isinstance(value, dict) else {"result": text}


@dataclass
class Turn:
    """A chat request's messages, mapped."""

    instructions: str
    history: list[types.Content]
    new_message: types.Content
    #: tool_call_id -> tool name, from the assistant messages the client sent
    call_names: dict[str, str] = field(default_factory=dict)
    #: indexes of role "tool" messages in the new message whose name is still unknown
    unnamed: list[tuple[int, str]] = field(default_factory=list)


def split(messages: Any) -> Turn:
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise ValidationError("messages: must be a non-empty list of messages", field="messages")
    history = History()
    if len(messages) > LONG_HISTORY:
        # ~7 objects per message, alive as long as the turn: the collector's older passes wait
        # for them to go, instead of traversing them all while they cannot be garbage
        heap.defer_older_collections(history)
    instructions: list[str] = []
    body: list[tuple[int, dict[str, Any]]] = []
    for i, m in enumerate(messages):
        role = m.get("role")
        if role not in _ROLES:
            raise ValidationError(f"messages[{i}].role: must be one of {', '.join(_ROLES)}", field=f"messages[{i}].role")
        if role in ("system", "developer"):
            text = _text(m.get("content"))
            if text:
                instructions.append(text)
        else:
            body.append((i, m))
    start = len(body)
    while start > 0 and body[start - 1][1].get("role") in ("user", "tool"):
        start -= 1
    if start == len(body):
        raise ValidationError("messages: the last message must be from the user (or a tool result)", field="messages")
    call_names: dict[str, str] = {}
    for i, m in body[:start]:
        history.append(_content(i, m, call_names))
    new_parts: list[types.Part] = []
    unnamed: list[tuple[int, str]] = []
    for i, m in body[start:]:
        content = _content(i, m, call_names)
        for p in content.parts or []:
            if p.function_response is not None and not p.function_response.name:
                unnamed.append((len(new_parts), f"messages[{i}].tool_call_id"))
            new_parts.append(p)
    if not new_parts:
        raise ValidationError("messages: the last user message is empty", field="messages")
    return Turn("\n\n".join(instructions), history, types.Content(role="user", parts=new_parts), call_names, unnamed)


#: above this many messages the mapping runs in a worker thread (:func:`split_off_loop`), and
#: the collector's older passes wait for the history to be gone (magec.heap)
LONG_HISTORY = 256


class History(list[types.Content]):
    """A turn's history: a list that takes a weak reference (the collector's deferral follows
    its life)."""


async def split_off_loop(messages: Any) -> Turn:
    """:func:`split`, in a worker thread for a long history: building a pydantic ``Content`` per
    message is ~25 µs, so 16k messages would hold the event loop (and every other request) for
    ~0.4 s; in a thread the interpreter hands the loop the GIL every switch interval instead."""
    if isinstance(messages, list) and len(messages) > LONG_HISTORY:
        return await off_loop(split, messages)
    return split(messages)


def _content(i: int, m: dict[str, Any], call_names: dict[str, str]) -> types.Content:
    role = m["role"]
    where = f"messages[{i}]"
    if role == "assistant":
        text = _text(m.get("content"))
        ps = [prebuilt.text_part(text)] if text else []
        calls = _calls(m, where)
        for c in calls:
            if c.function_call is not None and c.function_call.id:
                call_names[c.function_call.id] = c.function_call.name or ""
        return prebuilt.content("model", ps + calls)
    if role == "tool":
        call_id = m.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ValidationError(f"{where}.tool_call_id: is required", field=f"{where}.tool_call_id")
        fr = types.FunctionResponse(id=call_id, name=call_names.get(call_id) or m.get("name") or None,
                                    response=_response(m.get("content"), f"{where}.content"))
        return types.Content(role="user", parts=[types.Part(function_response=fr)])
    return prebuilt.content("user", parts(m.get("content"), f"{where}.content"))


def name_calls(turn: Turn, events: list[Event]) -> None:
    """Name the tool answers of the new message from the stored session's calls (a session call
    sends only the new ``role: "tool"`` messages); 400 for an id no call has."""
    known = dict(turn.call_names)
    for e in events:
        for fc in e.get_function_calls():
            if fc.id and fc.name:
                known[fc.id] = fc.name
    new_parts = turn.new_message.parts or []
    for index, where in turn.unnamed:
        fr = new_parts[index].function_response
        assert fr is not None
        name = known.get(fr.id or "")
        if not name:
            raise ValidationError(f"{where}: no tool call with id {fr.id!r} in this conversation", field=where)
        fr.name = name
    turn.unnamed = []


def history_events(app: App, history: list[types.Content]) -> list[Event]:
    """The client's history as session events (user messages by ``user``, the rest by the app's
    first author), in one linear pass with no awaits (about 30 µs a message; ``model_construct`` is
    slower than validation for ``Event``, whose defaults it resolves in Python)."""
    author = next(iter(app.authors), app.id)
    invocation = f"seed-{uuid.uuid4().hex[:8]}"
    now = time.time()
    return [
        Event(
            id=f"{invocation}-{i}",
            author="user" if content.role == "user" else author,
            content=content,
            invocation_id=invocation,
            timestamp=now,
        )
        for i, content in enumerate(history)
    ]


async def seed(svc: Any, app: App, user: str, sid: str, history: list[types.Content]) -> None:
    """Append the client's history to a stored session (``/v1/responses`` with ``store``)."""
    if not history:
        return
    session = await svc.get_session(app_name=app.id, user_id=user, session_id=sid)
    assert session is not None
    events = history_events(app, history)
    await reserve(svc, user, events, session=(app.id, sid))  # over a stored-conversation limit: 413
    for event in events:
        await svc.append_event(session, event)
