"""ADK ``LlmRequest`` → Chat Completions request body (messages, tools, generation options).

Contract: system instruction → first ``system`` message; ``model`` → ``assistant`` (text +
``tool_calls``); function responses → ``tool`` messages right after; user text/images/audio/files →
``user`` content parts; thought parts are not sent back. Tool-call ids longer than 40 characters
(OpenAI's limit) are replaced by a deterministic hash, recorded in ``id_map`` (short → original) so
the caller can map ids in responses back.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.adk.models import LlmRequest
from google.genai import types

from magec.backends._llm import declarations, response_text, short_id, system_text
from magec.backends._schema import declaration_parameters, ensure_object_properties, lower_types

MAX_TOOL_ID = 40
_AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3"}


def _wire_id(raw: str | None, id_map: dict[str, str], fallback: str) -> str:
    if not raw:
        return fallback
    if len(raw) <= MAX_TOOL_ID:
        return raw
    short = short_id(raw, prefix="call_", limit=MAX_TOOL_ID)
    id_map[short] = raw
    return short


def _data_uri(blob: types.Blob) -> str:
    return f"data:{blob.mime_type or 'application/octet-stream'};base64,{base64.b64encode(blob.data or b'').decode()}"


def _user_part(part: types.Part) -> dict[str, Any] | None:
    if part.text is not None:
        return {"type": "text", "text": part.text}
    if part.inline_data is not None and part.inline_data.data:
        mime = (part.inline_data.mime_type or "").lower()
        if mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": _data_uri(part.inline_data)}}
        if mime in _AUDIO_FORMATS:
            data = base64.b64encode(part.inline_data.data).decode()
            return {"type": "input_audio", "input_audio": {"data": data, "format": _AUDIO_FORMATS[mime]}}
        name = part.inline_data.display_name or "file"
        return {"type": "file", "file": {"filename": name, "file_data": _data_uri(part.inline_data)}}
    if part.file_data is not None and part.file_data.file_uri:
        return {"type": "image_url", "image_url": {"url": part.file_data.file_uri}}
    return None


def build_messages(request: LlmRequest, id_map: dict[str, str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = system_text(request)
    if system:
        messages.append({"role": "system", "content": system})
    counter = 0
    for content in request.contents or []:
        parts = [p for p in content.parts or [] if not p.thought]
        if content.role == "model":
            text = "".join(p.text for p in parts if p.text)
            calls = []
            for p in parts:
                if p.function_call is None:
                    continue
                counter += 1
                fc = p.function_call
                calls.append(
                    {
                        "id": _wire_id(fc.id, id_map, f"call_{counter}"),
                        "type": "function",
                        "function": {
                            "name": fc.name,
                            "arguments": json.dumps(fc.args or {}, ensure_ascii=False),
                        },
                    }
                )
            if text or calls:
                msg: dict[str, Any] = {"role": "assistant", "content": text or None}
                if calls:
                    msg["tool_calls"] = calls
                messages.append(msg)
            continue
        user_parts: list[dict[str, Any]] = []
        for p in parts:
            if p.function_response is not None:
                fr = p.function_response
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": _wire_id(fr.id, id_map, f"call_{counter}"),
                        "content": response_text(fr.response),
                    }
                )
                continue
            converted = _user_part(p)
            if converted is not None:
                user_parts.append(converted)
        if user_parts:
            if all(x["type"] == "text" for x in user_parts):
                messages.append({"role": "user", "content": "".join(x["text"] for x in user_parts)})
            else:
                messages.append({"role": "user", "content": user_parts})
    return messages


def build_tools(request: LlmRequest) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": fd.name,
                "description": fd.description or "",
                "parameters": declaration_parameters(fd),
            },
        }
        for fd in declarations(request)
    ]


_EFFORT = {"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}


def _reasoning_effort(cfg: types.ThinkingConfig) -> str | None:
    level = getattr(cfg, "thinking_level", None)
    if level is not None:
        name = getattr(level, "name", str(level)).upper()
        if name in _EFFORT:
            return _EFFORT[name]
    budget = cfg.thinking_budget
    if budget is None:
        return None
    if budget == 0:
        return "minimal"
    if budget < 0:
        return "medium"  # -1 = "dynamic" in Gemini terms
    return "low" if budget <= 2048 else "medium" if budget <= 8192 else "high"


def generation_options(request: LlmRequest) -> dict[str, Any]:
    """Body fields from ``LlmRequest.config``: sampling, limits, stop, JSON output, reasoning effort."""
    cfg = request.config
    out: dict[str, Any] = {}
    if cfg is None:
        return out
    if cfg.temperature is not None:
        out["temperature"] = cfg.temperature
    if cfg.top_p is not None:
        out["top_p"] = cfg.top_p
    if cfg.max_output_tokens:
        out["max_tokens"] = cfg.max_output_tokens
    if cfg.stop_sequences:
        out["stop"] = list(cfg.stop_sequences)
    if cfg.seed is not None:
        out["seed"] = cfg.seed
    if cfg.presence_penalty is not None:
        out["presence_penalty"] = cfg.presence_penalty
    if cfg.frequency_penalty is not None:
        out["frequency_penalty"] = cfg.frequency_penalty
    schema: Any = cfg.response_json_schema
    if schema is None and isinstance(cfg.response_schema, types.Schema):
        schema = cfg.response_schema.json_schema.model_dump(mode="json", exclude_none=True, by_alias=True)
    if isinstance(schema, dict):
        # strict=False: strict mode rejects any schema outside OpenAI's subset (e.g. without
        # additionalProperties: false), which would break user-written schemas.
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": "response",
                "schema": ensure_object_properties(lower_types(schema)),
                "strict": False,
            },
        }
    elif cfg.response_mime_type == "application/json":
        out["response_format"] = {"type": "json_object"}
    if cfg.thinking_config is not None:
        effort = _reasoning_effort(cfg.thinking_config)
        if effort:
            out["reasoning_effort"] = effort
    fcc = cfg.tool_config.function_calling_config if cfg.tool_config else None
    if fcc is not None and fcc.mode is not None:
        mode = getattr(fcc.mode, "name", str(fcc.mode)).upper()
        if mode == "ANY":
            names = fcc.allowed_function_names or []
            out["tool_choice"] = (
                {"type": "function", "function": {"name": names[0]}} if len(names) == 1 else "required"
            )
        elif mode == "NONE":
            out["tool_choice"] = "none"
    return out
