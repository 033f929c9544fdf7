"""ADK ``LlmRequest`` → Anthropic Messages request body.

Contract: system instruction → ``system``; ``model`` → ``assistant``; function calls →
``tool_use`` blocks, function responses → ``tool_result`` blocks (first in their user message);
tool ids outside ``[A-Za-z0-9_-]`` become ``toolu_<hash>`` (recorded in ``id_map`` short →
original); consecutive same-role messages are merged; history is repaired so every ``tool_use``
is answered by a ``tool_result`` in the next user message (unanswered ``tool_use`` and unmatched
``tool_result`` blocks are dropped); ``max_tokens`` defaults to :data:`DEFAULT_MAX_TOKENS`.
:func:`payload` is the body as the JSON bytes sent (the SDK then sends them as they are).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from google.adk.models import LlmRequest
from google.genai import types

from magec.backends._llm import declarations, response_text, short_id, system_text
from magec.backends._schema import declaration_parameters
from magec.backends._transport import json_body

DEFAULT_MAX_TOKENS = 4096
_ID_OK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


def wire_id(raw: str | None, id_map: dict[str, str], fallback: str) -> str:
    if not raw:
        return fallback
    if _ID_OK.match(raw):
        return raw
    short = short_id(raw, prefix="toolu_", limit=40)
    id_map[short] = raw
    return short


def _block(part: types.Part, id_map: dict[str, str], n: int) -> dict[str, Any] | None:
    if part.text is not None:
        return {"type": "text", "text": part.text} if part.text else None
    if part.function_call is not None:
        fc = part.function_call
        return {
            "type": "tool_use",
            "id": wire_id(fc.id, id_map, f"toolu_{n}"),
            "name": fc.name,
            "input": fc.args or {},
        }
    if part.function_response is not None:
        fr = part.function_response
        return {
            "type": "tool_result",
            "tool_use_id": wire_id(fr.id, id_map, f"toolu_{n}"),
            "content": response_text(fr.response),
        }
    if part.inline_data is not None and part.inline_data.data:
        mime = (part.inline_data.mime_type or "").lower()
        data = base64.b64encode(part.inline_data.data).decode()
        if mime in _IMAGE_TYPES:
            return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
        if mime == "application/pdf":
            return {"type": "document", "source": {"type": "base64", "media_type": mime, "data": data}}
        if mime.startswith("text/"):
            return {"type": "text", "text": part.inline_data.data.decode(errors="replace")}
        return None
    if part.file_data is not None and part.file_data.file_uri:
        return {"type": "image", "source": {"type": "url", "url": part.file_data.file_uri}}
    return None


def _merge(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive messages of one role as one; empty ones dropped. Messages that merge with none
    are kept as they are (a long history builds no second copy of itself); inputs are never changed."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if not m["content"]:
            continue
        if out and out[-1]["role"] == m["role"]:
            out[-1] = {"role": m["role"], "content": out[-1]["content"] + m["content"]}
        else:
            out.append(m)
    return out


def repair(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop ``tool_use`` blocks not answered in the next user message and ``tool_result`` blocks
    that answer nothing in the previous assistant message; results go first in their message.
    A message with nothing to change is kept as it is; inputs are never changed."""
    fixed: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        content = m["content"]
        if m["role"] == "assistant":
            if any(b["type"] == "tool_use" for b in content):
                nxt = messages[i + 1] if i + 1 < len(messages) else None
                answered = {
                    b["tool_use_id"]
                    for b in (nxt["content"] if nxt and nxt["role"] == "user" else [])
                    if b["type"] == "tool_result"
                }
                content = [b for b in content if b["type"] != "tool_use" or b["id"] in answered]
        elif any(b["type"] == "tool_result" for b in content):
            prev = fixed[-1] if fixed and fixed[-1]["role"] == "assistant" else None
            asked = {b["id"] for b in (prev["content"] if prev else []) if b["type"] == "tool_use"}
            results = [b for b in content if b["type"] == "tool_result" and b["tool_use_id"] in asked]
            content = results + [b for b in content if b["type"] != "tool_result"]
        if content:
            fixed.append(m if content is m["content"] else {"role": m["role"], "content": content})
    merged = _merge(fixed)
    if merged and merged[0]["role"] != "user":
        merged.insert(0, {"role": "user", "content": [{"type": "text", "text": "(conversation start)"}]})
    return merged


def build_messages(request: LlmRequest, id_map: dict[str, str]) -> list[dict[str, Any]]:
    raw: list[dict[str, Any]] = []
    n = 0
    for content in request.contents or []:
        role = "assistant" if content.role == "model" else "user"
        blocks = []
        for part in content.parts or []:
            if part.thought:
                continue  # thinking blocks need provider signatures; ADK does not keep them
            n += 1
            block = _block(part, id_map, n)
            if block is not None:
                blocks.append(block)
        raw.append({"role": role, "content": blocks})
    return repair(_merge(raw))


def build_body(request: LlmRequest, model: str, id_map: dict[str, str]) -> dict[str, Any]:
    cfg = request.config
    body: dict[str, Any] = {
        "model": model,
        "messages": build_messages(request, id_map),
        "max_tokens": (cfg.max_output_tokens if cfg and cfg.max_output_tokens else DEFAULT_MAX_TOKENS),
    }
    system = system_text(request)
    if system:
        body["system"] = system
    tools = [
        {
            "name": fd.name,
            "description": fd.description or "",
            "input_schema": {**declaration_parameters(fd), "type": "object"},
        }
        for fd in declarations(request)
    ]
    if tools:
        body["tools"] = tools
    if cfg is None:
        return body
    # sampling parameters: the API (and proxies) accept them in the body as always
    if cfg.temperature is not None:
        body["temperature"] = cfg.temperature
    if cfg.top_p is not None:
        body["top_p"] = cfg.top_p
    if cfg.top_k is not None:
        body["top_k"] = int(cfg.top_k)
    if cfg.stop_sequences:
        body["stop_sequences"] = list(cfg.stop_sequences)
    budget = cfg.thinking_config.thinking_budget if cfg.thinking_config else None
    if budget and budget > 0:
        body["thinking"] = {"type": "enabled", "budget_tokens": max(1024, budget)}
    fcc = cfg.tool_config.function_calling_config if cfg.tool_config else None
    if tools and fcc is not None and fcc.mode is not None:
        mode = getattr(fcc.mode, "name", str(fcc.mode)).upper()
        names = fcc.allowed_function_names or []
        if mode == "ANY":
            body["tool_choice"] = {"type": "tool", "name": names[0]} if len(names) == 1 else {"type": "any"}
        elif mode == "NONE":
            body["tool_choice"] = {"type": "none"}
    return body


def payload(request: LlmRequest, model: str, id_map: dict[str, str], stream: bool) -> bytes:
    """:func:`build_body` as the JSON bytes of the request (``stream`` set when streaming).

    Why bytes: the SDK walks a dict body whole to copy it before sending (every message, every
    block): ~15 µs per message, which a long history paid on the event loop. Bytes go out as they
    are, and a long history's body is built off the loop (:class:`~magec.backends.anthropic.chat.AnthropicChat`),
    encoded a message at a time (:func:`magec.backends._transport.json_body`)."""
    body = build_body(request, model, id_map)
    if stream:
        body["stream"] = True
    return json_body(body)
