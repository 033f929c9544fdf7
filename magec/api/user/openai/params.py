"""OpenAI request parameters → :class:`~magec.agents.request_overrides.Overrides`.

Contract of :func:`overrides`: every generation parameter the client sent is checked (400 naming
it when out of range) and carried to the agent's model calls for this request; parameters it did
not send keep the agent's configured values (precedence: request > agent > backend default).

==========================================  ==============================================
OpenAI                                      ADK ``GenerateContentConfig``
==========================================  ==============================================
``temperature`` (0–2), ``top_p`` (0–1)      ``temperature``, ``top_p``
``max_completion_tokens`` / ``max_tokens``  ``max_output_tokens`` (the first one set wins)
``stop`` (string or up to 4 strings)        ``stop_sequences``
``seed``                                    ``seed``
``presence_penalty``/``frequency_penalty``  same names (−2–2)
``response_format`` ``json_object``         ``response_mime_type="application/json"``
``response_format`` ``json_schema``         ``response_mime_type`` + ``response_json_schema``
``tools`` (function tools)                  client tools, next to the agent's own
``tool_choice``                             ``tool_config`` (first model call of the turn)
==========================================  ==============================================

Each backend turns the config into its vendor's request (``response_format`` for OpenAI-compatible
servers, ``response_json_schema`` for Gemini). ``n`` > 1, ``logprobs`` and a non-empty ``logit_bias``
are refused with a 400 that says so: an agent turn produces one answer, no backend exposes token
probabilities, and token ids are one tokenizer's while the agent picks the model (a silently
ignored bias would let a client believe it was applied).
``parallel_tool_calls``, ``user``, ``metadata``, ``store`` and ``stream_options`` are accepted.
"""

from __future__ import annotations

import re
from typing import Any

from google.genai import types

from magec.agents.request_overrides import Overrides
from magec.errors import ValidationError


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValidationError(f"{key}: must be a number between {low:g} and {high:g}", field=key)
    return float(value)


def _int(body: dict[str, Any], key: str, low: int = 1) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValidationError(f"{key}: must be an integer of at least {low}", field=key)
    return value


def response_format(fmt: Any, key: str = "response_format") -> dict[str, Any]:
    """``response_format`` (chat) or ``text.format`` (responses) as config fields."""
    if fmt is None:
        return {}
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise ValidationError(f"{key}.type: must be text, json_object or json_schema", field=f"{key}.type")
    if fmt["type"] == "text":
        return {}
    if fmt["type"] == "json_object":
        return {"response_mime_type": "application/json"}
    # chat nests the schema under json_schema; the responses API puts it on the format itself
    spec = fmt.get("json_schema", fmt)
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        where = f"{key}.json_schema.schema" if "json_schema" in fmt else f"{key}.schema"
        raise ValidationError(f"{where}: must be a JSON schema object", field=where)
    return {"response_mime_type": "application/json", "response_json_schema": schema}


#: a function tool's name, as OpenAI requires it (Gemini and Anthropic are stricter still)
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def function_tools(raw: Any, key: str = "tools", *, flat: bool = False) -> list[types.FunctionDeclaration]:
    """Client function tools. ``flat``: the responses API's ``{"type": "function", "name", …}``
    instead of chat's ``{"type": "function", "function": {…}}``."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationError(f"{key}: must be a list of tools", field=key)
    out: list[types.FunctionDeclaration] = []
    seen: set[str] = set()
    for i, tool in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise ValidationError(f"{where}.type: only function tools are supported", field=f"{where}.type")
        fn = tool if flat else tool.get("function")
        at = where if flat else f"{where}.function"
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ValidationError(f"{at}.name: is required", field=f"{at}.name")
        name = fn["name"]
        if not _TOOL_NAME.fullmatch(name):  # OpenAI's own rule; providers refuse other names mid-turn
            raise ValidationError(f"{at}.name: must be 1 to 64 letters, digits, '_' or '-'", field=f"{at}.name")
        if name in seen:
            raise ValidationError(f"{at}.name: {name!r} is declared twice", field=f"{at}.name")
        seen.add(name)
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise ValidationError(f"{at}.parameters: must be a JSON schema object", field=f"{at}.parameters")
        out.append(
            types.FunctionDeclaration(
                name=name,
                description=str(fn.get("description") or ""),
                parameters_json_schema=params or {"type": "object", "properties": {}},
            )
        )
    return out


def tool_choice(raw: Any, names: set[str], *, flat: bool = False) -> str | None:
    if raw is None or raw == "auto":
        return None
    if raw in ("none", "required"):
        return str(raw)
    if isinstance(raw, dict) and raw.get("type") == "function":
        fn = raw if flat else raw.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if isinstance(name, str) and name in names:
            return name
        raise ValidationError("tool_choice: names no tool of this request", field="tool_choice")
    raise ValidationError("tool_choice: must be auto, none, required or a function", field="tool_choice")


def config(body: dict[str, Any], *, max_keys: tuple[str, ...] = ("max_completion_tokens", "max_tokens")) -> dict[str, Any]:
    """The GenerateContentConfig fields of the sampling parameters present in ``body``."""
    out: dict[str, Any] = {}
    for key, low, high in (("temperature", 0, 2), ("top_p", 0, 1), ("presence_penalty", -2, 2),
                           ("frequency_penalty", -2, 2)):  # fmt: skip
        value = _number(body, key, low, high)
        if value is not None:
            out[key] = value
    for key in max_keys:
        limit = _int(body, key)
        if limit is not None:
            out["max_output_tokens"] = limit
            break
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > 4:
            raise ValidationError("stop: must be a string or a list of up to 4 strings", field="stop")
        if stops:
            out["stop_sequences"] = stops
    seed = body.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValidationError("seed: must be an integer", field="seed")
        out["seed"] = seed
    return out


def unsupported(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise ValidationError("n: only n=1 is supported (an agent turn produces one answer)", field="n")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise ValidationError("logprobs: not supported (agents do not expose token probabilities)", field="logprobs")
    if body.get("logit_bias") not in (None, {}):  # an empty map (some clients' default) changes nothing
        raise ValidationError(
            "logit_bias: not supported: its keys are token ids of one model's tokenizer, and which model "
            "answers is the agent's (Anthropic and Gemini backends take no bias at all); steer the answer "
            "with instructions, stop or response_format instead", field="logit_bias")


def overrides(body: dict[str, Any], instructions: str = "", *, is_flow: bool = False) -> Overrides:
    """The chat completions request's overrides (instructions from :mod:`.messages`)."""
    unsupported(body)
    cfg = config(body)
    cfg.update(response_format(body.get("response_format")))
    tools = function_tools(body.get("tools"))
    if tools and is_flow:
        raise ValidationError("tools: client tools are offered to agents, not flows", field="tools")
    choice = tool_choice(body.get("tool_choice"), {t.name for t in tools if t.name})
    if choice == "required" and not tools:
        choice = None  # the agent's own tools: "required" would force one on every answer
    return Overrides(instructions=instructions, config=cfg, tools=tools, tool_choice=choice)
