"""Pure translation between ADK's message vocabulary and llama.cpp's OpenAI-style chat dicts.

* :func:`to_messages` turns an ``LlmRequest`` into chat messages. With ``tools=True`` (the GGUF's
  chat template renders ``tools``) function calls and results become ``tool_calls`` / ``role: tool``
  messages; otherwise they are written as plain text so the history stays readable to the model.
  Images and other binary parts are not supported by local models: they become a short
  ``[<mime> attachment omitted]`` note rather than being dropped silently.
* :func:`to_tools` turns ADK function declarations into OpenAI tool dicts.
* :func:`parse_tool_calls` finds tool calls in generated text: Hermes/Qwen style
  ``<tool_call>{"name": …, "arguments": {…}}</tool_call>`` blocks, or a reply that is a single JSON
  object naming a declared tool (Llama-3.1 style, ``arguments`` or ``parameters``).
* :func:`safe_prefix_len` says how much of a streamed text can be shown before a tool call might start.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any

from google.genai import types

from magec.errors import ValidationError
from magec.jsontext import decode

if TYPE_CHECKING:
    from google.adk.models import LlmRequest

TOOL_OPEN = "<tool_call>"
_TOOL_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def _system_text(request: LlmRequest) -> str:
    si = request.config.system_instruction if request.config else None
    if si is None:
        return ""
    if isinstance(si, str):
        return si
    if isinstance(si, types.Content):
        return "".join(p.text or "" for p in si.parts or [])
    if isinstance(si, types.Part):
        return si.text or ""
    if isinstance(si, list):
        return "".join(x if isinstance(x, str) else (getattr(x, "text", None) or "") for x in si)
    return str(si)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def to_messages(request: LlmRequest, tools: bool) -> list[dict[str, Any]]:
    """Chat messages for ``request`` (system first when there is a system instruction)."""
    msgs: list[dict[str, Any]] = []
    system = _system_text(request)
    if system:
        msgs.append({"role": "system", "content": system})
    for content in request.contents or []:
        role = "assistant" if content.role == "model" else "user"
        text: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in content.parts or []:
            if part.thought:
                continue
            if part.text is not None:
                text.append(part.text)
            elif part.function_call is not None:
                fc = part.function_call
                if tools:
                    calls.append({"id": fc.id or f"call_{uuid.uuid4().hex[:8]}", "type": "function",
                                  "function": {"name": fc.name, "arguments": dict(fc.args or {})}})  # fmt: skip
                else:
                    text.append(f"[calling tool {fc.name} with {_json(fc.args or {})}]")
            elif part.function_response is not None:
                fr = part.function_response
                if tools:
                    msgs.append({"role": "tool", "name": fr.name, "tool_call_id": fr.id,
                                 "content": _json(fr.response)})  # fmt: skip
                else:
                    msgs.append(
                        {"role": "user", "content": f"[tool {fr.name} returned {_json(fr.response)}]"}
                    )
            elif part.inline_data is not None or part.file_data is not None:
                mime = (part.inline_data or part.file_data).mime_type or "binary"  # type: ignore[union-attr]
                text.append(f"[{mime} attachment omitted: this local model reads text only]")
        if text or calls:
            msg: dict[str, Any] = {"role": role, "content": "".join(text)}
            if calls:
                msg["tool_calls"] = calls
            msgs.append(msg)
    if not any(m["role"] == "user" for m in msgs):
        msgs.append(
            {"role": "user", "content": "Handle the requests as specified in the system instruction."}
        )
    return msgs


def _lower_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_lower_types(x) for x in schema]
    return schema


def to_tools(request: LlmRequest) -> list[dict[str, Any]]:
    """OpenAI-style tool dicts for the request's function declarations ([] when none)."""
    cfg = request.config
    out: list[dict[str, Any]] = []
    for tool in cfg.tools if cfg and cfg.tools else []:
        for fd in getattr(tool, "function_declarations", None) or []:
            if fd.parameters_json_schema:
                params = fd.parameters_json_schema
            elif fd.parameters:
                params = fd.parameters.model_dump(by_alias=True, exclude_none=True, mode="json")
            else:
                params = {"type": "object", "properties": {}}
            out.append({"type": "function", "function": {"name": fd.name, "description": fd.description or "",
                                                         "parameters": _lower_types(params)}})  # fmt: skip
    return out


def _call(obj: Any, names: set[str]) -> types.Part | None:
    if not isinstance(obj, dict) or obj.get("name") not in names:
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:  # model output: NaN or deep nesting is as malformed as a syntax error
            args = decode(args, "arguments")
        except ValidationError:
            args = {"_raw": args}
    if args is not None and not isinstance(args, dict):  # a list, a number: no arguments object
        args = {"_raw": args}
    fc = types.FunctionCall(id=f"call_{uuid.uuid4().hex[:12]}", name=obj["name"], args=args or {})
    return types.Part(function_call=fc)


def parse_tool_calls(text: str, tool_names: set[str]) -> tuple[str, list[types.Part]]:
    """Split generated ``text`` into (remaining text, function-call parts) for declared tools."""
    if not tool_names:
        return text, []
    calls: list[types.Part] = []
    if TOOL_OPEN in text:
        for block in _TOOL_BLOCK.findall(text):
            try:
                part = _call(decode(block, "tool call"), tool_names)
            except ValidationError:
                part = None
            if part is not None:
                calls.append(part)
        return (text.split(TOOL_OPEN, 1)[0].strip() if calls else text), calls
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            part = _call(decode(stripped, "tool call"), tool_names)
        except ValidationError:
            part = None
        if part is not None:
            return "", [part]
    return text, []


def safe_prefix_len(text: str) -> int:
    """Length of ``text`` that cannot belong to a tool call (shown while streaming with tools)."""
    if text.lstrip().startswith("{"):
        return 0
    idx = text.find(TOOL_OPEN)
    if idx >= 0:
        return idx
    for k in range(min(len(TOOL_OPEN) - 1, len(text)), 0, -1):
        if TOOL_OPEN.startswith(text[-k:]):
            return len(text) - k
    return len(text)
