"""The set_state value schema is an explicit union every vendor accepts (no ``{}`` / ``true``)."""

from __future__ import annotations

from typing import Any

from google.genai import types

from magec.backends._schema import declaration_parameters, gemini_sanitize
from magec.flows.state import GetStateTool, SetStateTool, flow_state, flow_tools


def walk(schema: Any) -> list[Any]:
    """Every sub-schema (not property maps) of a JSON schema."""
    out = [schema]
    if isinstance(schema, dict):
        for sub in (schema.get("properties") or {}).values():
            out += walk(sub)
        for sub in schema.get("anyOf") or []:
            out += walk(sub)
        if "items" in schema:
            out += walk(schema["items"])
    return out


def test_value_schema_is_an_explicit_union() -> None:
    fd = SetStateTool()._get_declaration()
    params = declaration_parameters(fd)
    value = params["properties"]["value"]
    kinds = {alt["type"] for alt in value["anyOf"]}
    assert kinds == {"string", "number", "integer", "boolean", "array", "object"}
    assert params["required"] == ["key", "value"]
    # no boolean schemas and no empty (match-anything) schemas anywhere
    for node in walk(params):
        assert node is not True and node != {}
    for alt in value["anyOf"]:
        if alt["type"] == "array":
            assert alt["items"]["anyOf"]
    # Gemini's schema subset keeps the union
    gem = gemini_sanitize(params)
    assert len(gem["properties"]["value"]["anyOf"]) == 6
    types.Schema.model_validate(gem)


def test_tools_and_state_map() -> None:
    assert [t.name for t in flow_tools(None)] == ["set_state", "get_state"]
    assert [t.name for t in flow_tools("loop_1")] == ["set_state", "get_state", "exit_loop"]
    assert declaration_parameters(GetStateTool()._get_declaration())["required"] == ["key"]
    assert flow_state({"flow:a": 1, "a": 2, "temp:x": 3, "flow:b": {"c": [1]}}) == {"a": 1, "b": {"c": [1]}}
