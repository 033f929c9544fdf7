"""Anthropic chat adapter and model listing through the real anthropic SDK against the fake."""

from __future__ import annotations

import base64

import pytest
from backend_helpers import KEY, collect, spec_for
from google.adk.models import LlmRequest
from google.genai import types

from magec.backends import registry
from magec.backends.anthropic.messages import repair
from magec.errors import UnsupportedRoleError
from magec.testing.fake_providers import FakeServer, Reply, ToolCall

ANTHROPIC = registry.get("anthropic")

#: the SDK's per-call headers (its retry count and read deadline), which say nothing about the host
_PER_CALL = {"x-stainless-retry-count", "x-stainless-read-timeout", "x-stainless-timeout"}


def _req(*contents: types.Content, **cfg: object) -> LlmRequest:
    return LlmRequest(model="claude-test", contents=list(contents), config=types.GenerateContentConfig(**cfg))  # type: ignore[arg-type]


def _user(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part.from_text(text=text)])


async def test_text_plain_and_streamed(anthropic_srv: FakeServer) -> None:
    # a backend's own header wins over the omitted host headers
    llm = ANTHROPIC.chat(spec_for(anthropic_srv, "anthropic", headers={"X-Proxy": "p", "X-Stainless-Lang": "mine"}),
                         "claude-test")  # fmt: skip
    out = await collect(llm, _req(_user("hola"), system_instruction="be nice", temperature=0.1), stream=False)
    assert out[-1].content.parts[0].text == "claudia says: hola"
    rec = anthropic_srv.requests[-1]
    assert rec.path == "/v1/messages"
    assert rec.headers["authorization"] == f"Bearer {KEY}" and rec.headers["x-proxy"] == "p"
    assert "anthropic-version" in rec.headers
    # nothing about magec's host (OS, CPU, Python version: magec.backends._transport.SDK_HOST_HEADERS)
    assert [h for h in rec.headers if h.startswith("x-stainless-") and h not in _PER_CALL] == ["x-stainless-lang"]
    assert rec.headers["x-stainless-lang"] == "mine"
    assert (
        rec.json["system"] == "be nice" and rec.json["max_tokens"] == 4096 and rec.json["temperature"] == 0.1
    )
    assert rec.json["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hola"}]}]

    anthropic_srv.script(Reply(chunks=["ho", "la"]))
    out = await collect(llm, _req(_user("x"), max_output_tokens=99), stream=True)
    assert [r.content.parts[0].text for r in out if r.partial] == ["ho", "la"]
    assert out[-1].content.parts[0].text == "hola" and not out[-1].partial
    assert out[-1].usage_metadata.candidates_token_count == 5
    assert anthropic_srv.requests[-1].json["stream"] is True
    assert anthropic_srv.requests[-1].json["max_tokens"] == 99


async def test_tool_use_streamed_input_json_delta_and_plain(anthropic_srv: FakeServer) -> None:
    llm = ANTHROPIC.chat(spec_for(anthropic_srv, "anthropic"), "claude-test")
    fd = types.FunctionDeclaration(
        name="get_weather",
        parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}),
    )
    calls = [ToolCall("get_weather", {"city": "La Laguna"}), ToolCall("get_weather", {"city": "Adeje"})]
    for stream in (True, False):
        anthropic_srv.script(Reply(text="checking", tool_calls=calls))
        out = await collect(
            llm, _req(_user("weather?"), tools=[types.Tool(function_declarations=[fd])]), stream=stream
        )
        parts = out[-1].content.parts
        assert parts[0].text == "checking"
        assert [(p.function_call.id, p.function_call.args) for p in parts[1:]] == [
            ("toolu_01", {"city": "La Laguna"}),
            ("toolu_02", {"city": "Adeje"}),
        ]
        tool = anthropic_srv.requests[-1].json["tools"][0]
        assert tool["input_schema"] == {"type": "object", "properties": {"city": {"type": "string"}}}


async def test_history_tool_ids_sanitised_images_and_repair(anthropic_srv: FakeServer) -> None:
    bad_id = "adk.call/with:odd*chars"
    png = b"\x89PNG"
    contents = [
        types.Content(
            role="user",
            parts=[types.Part.from_text(text="see"), types.Part.from_bytes(data=png, mime_type="image/png")],
        ),
        types.Content(
            role="model",
            parts=[
                types.Part(function_call=types.FunctionCall(id=bad_id, name="lookup", args={"q": 1})),
                types.Part(function_call=types.FunctionCall(id="orphan", name="lookup", args={})),
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        id=bad_id, name="lookup", response={"result": "42"}
                    )
                )
            ],
        ),
    ]
    llm = ANTHROPIC.chat(spec_for(anthropic_srv, "anthropic"), "claude-test")
    out = await collect(llm, _req(*contents), stream=True)
    assert out[-1].content.parts[0].text == "claudia says: tool result 42"
    msgs = anthropic_srv.requests[-1].json["messages"]
    assert msgs[0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(png).decode()},
    }
    tool_uses = msgs[1]["content"]
    assert len(tool_uses) == 1 and tool_uses[0]["id"].startswith("toolu_")  # orphan dropped
    assert msgs[2]["content"] == [{"type": "tool_result", "tool_use_id": tool_uses[0]["id"], "content": "42"}]
    # the provider answering with the sanitised id maps back to ADK's id
    anthropic_srv.script(Reply(tool_calls=[ToolCall("lookup", {}, id=tool_uses[0]["id"])]))
    out = await collect(llm, _req(*contents), stream=False)
    assert out[-1].content.parts[0].function_call.id == bad_id


def test_repair_drops_unmatched_results_and_orders_results_first() -> None:
    msgs = [
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "nobody", "content": "x"},
                {"type": "text", "text": "hi"},
            ],
        },
        {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": {}}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and"},
                {"type": "tool_result", "tool_use_id": "a", "content": "ok"},
            ],
        },
    ]
    fixed = repair(msgs)
    assert fixed[0]["content"] == [{"type": "text", "text": "hi"}]
    assert [b["type"] for b in fixed[2]["content"]] == ["tool_result", "text"]


async def test_models_and_unsupported_roles(anthropic_srv: FakeServer) -> None:
    spec = spec_for(anthropic_srv, "anthropic")
    models = await ANTHROPIC.models(spec).list_models()
    assert [m.id for m in models] == ["claude-fake"]
    assert anthropic_srv.requests[-1].path == "/v1/models"
    for role in (ANTHROPIC.embeddings, ANTHROPIC.stt, ANTHROPIC.tts):
        with pytest.raises(UnsupportedRoleError):
            role(spec)
    assert ANTHROPIC.declared.roles == ["llm"]


async def test_proxy_url_with_v1_suffix(anthropic_srv: FakeServer) -> None:
    llm = ANTHROPIC.chat(spec_for(anthropic_srv.url + "/v1/", "anthropic"), "claude-test")
    await collect(llm, _req(_user("x")), stream=False)
    assert anthropic_srv.requests[-1].path == "/v1/messages"
