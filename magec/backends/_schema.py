"""JSON-Schema helpers for tool declarations (vendor-neutral).

ADK hands us tools as ``google.genai.types.FunctionDeclaration`` whose parameters are either a
plain JSON Schema (``parameters_json_schema``) or a genai ``Schema`` (upper-case types).
:func:`declaration_parameters` turns both into plain JSON Schema with lower-case types and with
``properties`` on every object (OpenAI rejects ``{"type": "object"}`` alone).
:func:`gemini_sanitize` reduces a schema to the subset Gemini's ``parameters`` accepts.
"""

from __future__ import annotations

import copy
from typing import Any

from google.genai import types


def lower_types(schema: Any) -> Any:
    """Copy of ``schema`` with every ``type`` value (string or list) lower-cased."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "type" and isinstance(value, str):
                out[key] = value.lower()
            elif key == "type" and isinstance(value, list):
                out[key] = [v.lower() if isinstance(v, str) else v for v in value]
            elif key == "properties" and isinstance(value, dict):
                out[key] = {name: lower_types(sub) for name, sub in value.items()}
            else:
                out[key] = lower_types(value)
        return out
    if isinstance(schema, list):
        return [lower_types(x) for x in schema]
    return schema


def ensure_object_properties(schema: Any) -> Any:
    """Every ``type: object`` schema (recursively) gets ``properties`` (``{}`` when absent)."""
    if isinstance(schema, dict):
        out = {
            k: (
                {n: ensure_object_properties(s) for n, s in v.items()}
                if k == "properties" and isinstance(v, dict)
                else ensure_object_properties(v)
            )
            for k, v in schema.items()
        }
        kind = out.get("type")
        if (kind == "object" or (isinstance(kind, list) and "object" in kind)) and "properties" not in out:
            out["properties"] = {}
        return out
    if isinstance(schema, list):
        return [ensure_object_properties(x) for x in schema]
    return schema


def declaration_parameters(fd: types.FunctionDeclaration) -> dict[str, Any]:
    """The tool's parameters as plain JSON Schema: lower-case types, objects with ``properties``."""
    raw: Any
    if fd.parameters_json_schema is not None:
        raw = copy.deepcopy(fd.parameters_json_schema)
    elif fd.parameters is not None:
        raw = fd.parameters.json_schema.model_dump(mode="json", exclude_none=True, by_alias=True)
    else:
        raw = {"type": "object", "properties": {}}
    schema = ensure_object_properties(lower_types(raw))
    if not isinstance(schema, dict) or schema.get("type") is None:
        schema = {"type": "object", "properties": {}, **(schema if isinstance(schema, dict) else {})}
    return schema


# Keys Gemini's OpenAPI-subset schema understands; everything else is dropped.
_GEMINI_KEYS = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
}


def _resolve_ref(ref: str, defs: dict[str, Any]) -> Any:
    name = ref.rsplit("/", 1)[-1]
    return defs.get(name, {})


def gemini_sanitize(schema: Any, defs: dict[str, Any] | None = None, _depth: int = 0) -> Any:
    """Gemini-safe copy of a JSON Schema.

    ``$ref`` is inlined from ``$defs``/``definitions`` (recursion capped), ``$schema``,
    ``additionalProperties`` and other unsupported keys are dropped, ``type: [x, "null"]`` becomes
    ``type: x, nullable: true``, ``const`` becomes a one-value ``enum``, ``oneOf`` becomes ``anyOf``,
    ``enum`` values become strings, ``required`` keeps only declared properties.
    """
    if isinstance(schema, list):
        return [gemini_sanitize(x, defs, _depth) for x in schema]
    if not isinstance(schema, dict):
        return schema
    if defs is None:
        defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    if "$ref" in schema:
        if _depth > 8:
            return {"type": "object", "properties": {}}
        merged = {
            **_resolve_ref(str(schema["$ref"]), defs),
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
        return gemini_sanitize(merged, defs, _depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "oneOf":
            key = "anyOf"
        if key == "const":
            out["enum"] = [str(value)]
            continue
        if key not in _GEMINI_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {n: gemini_sanitize(s, defs, _depth) for n, s in value.items()}
        elif key in ("items", "anyOf"):
            out[key] = gemini_sanitize(value, defs, _depth)
        elif key == "enum" and isinstance(value, list):
            out[key] = [str(v) for v in value if v is not None]
        elif key == "type" and isinstance(value, list):
            kinds = [str(v).lower() for v in value]
            if "null" in kinds:
                out["nullable"] = True
            real = [k for k in kinds if k != "null"]
            out["type"] = real[0] if real else "string"
        elif key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        else:
            out[key] = value
    if "required" in out and isinstance(out.get("properties"), dict):
        out["required"] = [r for r in out["required"] if r in out["properties"]]
    if out.get("type") == "object" and "properties" not in out:
        out["properties"] = {}
    if out.get("type") == "object" and not out["properties"]:
        out.pop("required", None)
    return out
