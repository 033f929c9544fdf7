"""Pure translation helpers of the local chat model (no model needed)."""

from __future__ import annotations

import json

from google.adk.models import LlmRequest
from google.genai import types

from magec.backends.local._chat_messages import parse_tool_calls, safe_prefix_len, to_messages, to_tools


def _history() -> LlmRequest:
    call = types.FunctionCall(id="c1", name="get_weather", args={"city": "Paris"})
    result = types.FunctionResponse(id="c1", name="get_weather", response={"temp": 21})
    return LlmRequest(
        contents=[
            types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
            types.Content(role="model", parts=[types.Part(function_call=call)]),
            types.Content(role="user", parts=[types.Part(function_response=result)]),
        ],
        config=types.GenerateContentConfig(
            system_instruction="Be brief.",
            tools=[types.Tool(function_declarations=[types.FunctionDeclaration(
                name="get_weather", description="Weather",
                parameters=types.Schema(type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}))])],
        ),
    )  # fmt: skip


def test_messages_with_tool_support() -> None:
    msgs = to_messages(_history(), tools=True)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool"]
    assert msgs[2]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert msgs[3]["tool_call_id"] == "c1" and '"temp": 21' in msgs[3]["content"]


def test_messages_without_tool_support_keep_history_as_text() -> None:
    msgs = to_messages(_history(), tools=False)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert "get_weather" in msgs[2]["content"] and "21" in msgs[3]["content"]


def test_tools_have_lowercase_json_schema_types() -> None:
    (tool,) = to_tools(_history())
    assert tool["function"]["name"] == "get_weather"
    assert tool["function"]["parameters"]["type"] == "object"
    assert tool["function"]["parameters"]["properties"]["city"]["type"] == "string"


def test_parse_hermes_and_bare_json_calls() -> None:
    names = {"get_weather"}
    text, calls = parse_tool_calls(
        'Sure.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>', names
    )
    assert text == "Sure." and calls[0].function_call is not None
    assert calls[0].function_call.args == {"city": "Oslo"}
    text, calls = parse_tool_calls('{"name": "get_weather", "parameters": {"city": "Rome"}}', names)
    assert (
        text == "" and calls[0].function_call is not None and calls[0].function_call.args == {"city": "Rome"}
    )
    assert parse_tool_calls('{"name": "other"}', names) == ('{"name": "other"}', [])
    assert parse_tool_calls("plain text", names) == ("plain text", [])
    assert parse_tool_calls("<tool_call>{}</tool_call>", set()) == ("<tool_call>{}</tool_call>", [])


def test_safe_prefix_holds_back_a_possible_tag() -> None:
    assert safe_prefix_len("Hello there") == 11
    assert safe_prefix_len("Hello <tool") == 6
    assert safe_prefix_len("Hi<tool_call>{") == 2
    assert safe_prefix_len('{"name"') == 0


def test_nasty_json_from_the_model_is_malformed_json() -> None:
    """What the model writes is read with magec's parser: NaN, or nesting deep enough for a
    RecursionError, is treated as any malformed JSON — a block that is no call stays text, and
    arguments that are no JSON are kept raw — instead of failing the turn."""
    names = {"get_weather"}
    deep = "[" * 100_000 + "]" * 100_000
    for block in (deep, '{"name": "get_weather", "arguments": {"x": NaN}}', "{not json}"):
        tagged = f"Sure.<tool_call>{block}</tool_call>"
        assert parse_tool_calls(tagged, names) == (tagged, [])
    bare = '{"name": "get_weather", "arguments": {"deep": ' + deep + "}}"
    assert parse_tool_calls(bare, names) == (bare, [])
    for args in ('{"x": NaN}', '{"x": Infinity}', deep, "{not json"):
        text, calls = parse_tool_calls(json.dumps({"name": "get_weather", "arguments": args}), names)
        assert text == "" and calls[0].function_call is not None
        assert calls[0].function_call.args == {"_raw": args}
    # valid JSON that is no arguments object is kept raw too (a FunctionCall refused it: the turn failed)
    for args, kept in (("[1]", [1]), ("7", 7), ('"x"', "x")):
        for written in (args, json.loads(args)):
            text, calls = parse_tool_calls(json.dumps({"name": "get_weather", "arguments": written}), names)
            assert text == "" and calls[0].function_call is not None
            assert calls[0].function_call.args == {"_raw": kept}
