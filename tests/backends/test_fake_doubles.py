"""The in-process doubles in magec.backends.fake behave like real backends for other layers' tests."""

from __future__ import annotations

import pytest
from google.adk.models import LlmRequest
from google.genai import types

from magec.backends.base import BackendSpec, Embeddings, SpeechToText, TextToSpeech
from magec.backends.fake import FakeBackendType, FakeEmbeddings, FakeLlm, Turn, deterministic_vector
from magec.errors import BackendRateLimitError


def _req(text: str, tools: bool = False) -> LlmRequest:
    cfg = types.GenerateContentConfig()
    if tools:
        cfg.tools = [types.Tool(function_declarations=[types.FunctionDeclaration(name="get_weather")])]
    return LlmRequest(
        model="m", contents=[types.Content(role="user", parts=[types.Part.from_text(text=text)])], config=cfg
    )


async def test_fake_llm_script_then_echo_and_auto_tool_call() -> None:
    llm = FakeLlm(Turn(calls=[("get_weather", {"city": "Tenerife"}, "c1")]), "done here", name="bot")
    out = [r async for r in llm.generate_content_async(_req("x"))]
    assert out[-1].content.parts[0].function_call.args == {"city": "Tenerife"}
    out = [r async for r in llm.generate_content_async(_req("y"), stream=True)]
    assert [r.content.parts[0].text for r in out] == ["done ", "here", "done here"]
    out = [r async for r in llm.generate_content_async(_req("hello"))]
    assert out[-1].content.parts[0].text == "bot says: hello"
    out = [r async for r in llm.generate_content_async(_req('call get_weather {"city": "Icod"}', tools=True))]
    assert out[-1].content.parts[0].function_call.name == "get_weather"
    assert len(llm.requests) == 4


async def test_a_fake_type_that_does_not_record_keeps_nothing() -> None:
    """``record=False`` (benches): the answers are the same, and no request or LLM is kept."""
    fake = FakeBackendType(record=False)
    llm = fake.chat(BackendSpec(id="f", name="quiet", type="fake"), "m")
    out = [r async for r in llm.generate_content_async(_req("hello"))]
    assert out[-1].content.parts[0].text == "quiet says: hello"
    assert llm.requests == [] and fake.llms == []


async def test_fake_llm_raises_scripted_errors() -> None:
    llm = FakeLlm(BackendRateLimitError("slow", retry_after=1))
    with pytest.raises(BackendRateLimitError):
        [r async for r in llm.generate_content_async(_req("x"))]


async def test_fake_backend_type_registers_and_round_trips_audio() -> None:
    # Not registered: the registry is process-wide and other suites list the available types.
    fake = FakeBackendType(dim=4)
    spec = BackendSpec(id="f", name="fakey", type="fake")
    bt = fake
    assert isinstance(bt.embeddings(spec), Embeddings)
    assert isinstance(bt.stt(spec), SpeechToText) and isinstance(bt.tts(spec), TextToSpeech)
    speech = await bt.tts(spec).synthesize("hola", "m", "v", "opus")
    audio = b"".join([c async for c in speech.chunks])
    assert speech.content_type == "audio/ogg"
    assert await bt.stt(spec).transcribe(audio, "audio/ogg", "m") == "hola"
    assert await FakeEmbeddings(4).embed(["a"], "e") == [deterministic_vector("a", 4)]
    fake.script.add("scripted")
    out = [r async for r in bt.chat(spec, "m").generate_content_async(_req("x"))]
    assert out[-1].content.parts[0].text == "scripted"
