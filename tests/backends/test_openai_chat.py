"""OpenAI chat adapter through the real openai SDK against the loopback fake."""

from __future__ import annotations

import base64

from backend_helpers import KEY, collect, spec_for
from google.adk.models import LlmRequest
from google.genai import types

from magec.backends import registry
from magec.testing.fake_providers import FakeServer, Reply, ToolCall


def _req(text: str = "hi there", **cfg: object) -> LlmRequest:
    return LlmRequest(
        model="gpt-test",
        contents=[types.Content(role="user", parts=[types.Part.from_text(text=text)])],
        config=types.GenerateContentConfig(**cfg),  # type: ignore[arg-type]
    )


def _llm(srv: FakeServer, **kw: object):  # noqa: ANN202
    return registry.get("openai").chat(spec_for(srv, "openai", **kw), "gpt-test")


async def test_plain_text_request_shape_and_answer(openai_srv: FakeServer) -> None:
    llm = _llm(openai_srv, headers={"X-Org": "canarias"})
    req = _req(
        "hola",
        system_instruction="be brief",
        temperature=0.2,
        top_p=0.9,
        max_output_tokens=50,
        stop_sequences=["END"],
        response_mime_type="application/json",
        thinking_config=types.ThinkingConfig(thinking_budget=1024),
    )
    out = await collect(llm, req, stream=False)
    assert len(out) == 1 and not out[0].partial
    # JSON was asked for (response_mime_type): the fake answers a JSON object
    assert out[0].content.parts[0].text == '{"answer": "alpha says: hola"}'
    assert out[0].finish_reason == types.FinishReason.STOP
    assert out[0].usage_metadata.prompt_token_count == 3
    rec = openai_srv.requests[-1]
    assert rec.path == "/v1/chat/completions"
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.headers["x-org"] == "canarias"
    # nothing about magec's host (OS, CPU, Python version: magec.backends._transport.SDK_HOST_HEADERS)
    assert {h for h in rec.headers if h.startswith("x-stainless-")} <= {"x-stainless-retry-count", "x-stainless-read-timeout"}
    body = rec.json
    assert body["model"] == "gpt-test"
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hola"},
    ]
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9 and body["max_tokens"] == 50
    assert body["stop"] == ["END"]
    assert body["response_format"] == {"type": "json_object"}
    assert body["reasoning_effort"] == "low"
    assert "stream" not in body or body["stream"] is False


async def test_streaming_yields_partials_then_aggregate(openai_srv: FakeServer) -> None:
    openai_srv.script(Reply(chunks=["Hel", "lo ", "world"]))
    out = await collect(_llm(openai_srv), _req(), stream=True)
    assert [r.content.parts[0].text for r in out if r.partial] == ["Hel", "lo ", "world"]
    final = out[-1]
    assert not final.partial and final.turn_complete
    assert final.content.parts[0].text == "Hello world"
    assert final.usage_metadata.total_token_count == 8
    body = openai_srv.requests[-1].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_parallel_tool_calls_streamed_and_not(openai_srv: FakeServer) -> None:
    calls = [ToolCall("get_weather", {"city": "Tenerife"}), ToolCall("get_time", {"tz": "Atlantic/Canary"})]
    fds = [
        types.FunctionDeclaration(
            name="get_weather",
            description="weather",
            parameters=types.Schema(
                type="OBJECT", properties={"city": types.Schema(type="STRING")}, required=["city"]
            ),
        ),
        types.FunctionDeclaration(name="get_time", parameters_json_schema={"type": "OBJECT"}),
    ]
    for stream in (True, False):
        openai_srv.script(Reply(tool_calls=calls))
        req = _req("weather and time?", tools=[types.Tool(function_declarations=fds)])
        out = await collect(_llm(openai_srv), req, stream=stream)
        final = out[-1]
        fcs = [p.function_call for p in final.content.parts if p.function_call]
        assert [(f.name, f.args, f.id) for f in fcs] == [
            ("get_weather", {"city": "Tenerife"}, "call_1"),
            ("get_time", {"tz": "Atlantic/Canary"}, "call_2"),
        ]
        tools = openai_srv.requests[-1].json["tools"]
        assert tools[0]["function"]["parameters"] == {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        }
        assert tools[1]["function"]["parameters"] == {"type": "object", "properties": {}}


async def test_history_with_long_tool_ids_and_image(openai_srv: FakeServer) -> None:
    long_id = "adk-" + "x" * 60
    png = b"\x89PNG fake"
    req = LlmRequest(
        model="gpt-test",
        contents=[
            types.Content(
                role="user",
                parts=[
                    types.Part.from_text(text="look"),
                    types.Part.from_bytes(data=png, mime_type="image/png"),
                ],
            ),
            types.Content(
                role="model",
                parts=[
                    types.Part(function_call=types.FunctionCall(id=long_id, name="lookup", args={"q": 1}))
                ],
            ),
            types.Content(
                role="user",
                parts=[
                    types.Part(
                        function_response=types.FunctionResponse(
                            id=long_id, name="lookup", response={"result": "ok"}
                        )
                    )
                ],
            ),
        ],
        config=types.GenerateContentConfig(),
    )
    llm = _llm(openai_srv)
    out = await collect(llm, req, stream=False)
    assert out[-1].content.parts[0].text == "alpha says: tool result ok"
    msgs = openai_srv.requests[-1].json["messages"]
    assert msgs[0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()},
    }
    short = msgs[1]["tool_calls"][0]["id"]
    assert len(short) <= 40 and short != long_id
    assert msgs[2] == {"role": "tool", "tool_call_id": short, "content": "ok"}
    # an id the provider echoes back in our shortened form maps back to ADK's original id
    openai_srv.script(Reply(tool_calls=[ToolCall("lookup", {}, id=short)]))
    out = await collect(llm, req, stream=True)
    assert out[-1].content.parts[0].function_call.id == long_id


async def test_empty_key_sends_no_authorization(openai_srv: FakeServer, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("OPENAI_API_KEY", "env-key-must-not-be-used")
    openai_srv.provider.api_key = None
    try:
        out = await collect(_llm(openai_srv, key=""), _req("no key"), stream=False)
    finally:
        openai_srv.provider.api_key = KEY
    assert out[-1].content.parts[0].text == "alpha says: no key"
    assert "authorization" not in openai_srv.requests[-1].headers


async def test_agent_headers_override_backend_headers(openai_srv: FakeServer) -> None:
    spec = spec_for(openai_srv, "openai", headers={"X-A": "backend", "X-B": "backend"}).with_headers(
        {"X-B": "agent"}
    )
    llm = registry.get("openai").chat(spec, "gpt-test")
    await collect(llm, _req(), stream=True)
    headers = openai_srv.requests[-1].headers
    assert (headers["x-a"], headers["x-b"]) == ("backend", "agent")


async def test_json_schema_response_format_and_tool_choice(openai_srv: FakeServer) -> None:
    schema = {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}}
    fd = types.FunctionDeclaration(name="f", parameters_json_schema={"type": "object", "properties": {}})
    req = _req(
        "x",
        response_json_schema=schema,
        tools=[types.Tool(function_declarations=[fd])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="ANY")),
    )
    await collect(_llm(openai_srv), req, stream=False)
    body = openai_srv.requests[-1].json
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
    }
    assert body["tool_choice"] == "required"
