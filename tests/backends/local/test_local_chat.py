"""SmolLM2-135M through the ADK BaseLlm: streamed and non-streamed turns, and an ADK Runner turn."""

from __future__ import annotations

import pytest
from google.adk.models import LlmRequest
from google.genai import types

from magec.backends.local.chat import LocalChat

pytestmark = pytest.mark.local


def _request(text: str, **config: object) -> LlmRequest:
    return LlmRequest(
        contents=[types.Content(role="user", parts=[types.Part(text=text)])],
        config=types.GenerateContentConfig(
            system_instruction="You are a helpful assistant.", temperature=0, **config
        ),
    )


async def test_non_streamed_turn_returns_text(chat_model: LocalChat) -> None:
    out = [
        r
        async for r in chat_model.generate_content_async(
            _request("What is the capital of France?", max_output_tokens=32)
        )
    ]
    assert len(out) == 1
    final = out[0]
    assert not final.partial and final.turn_complete
    assert final.content is not None and final.content.parts
    text = final.content.parts[0].text or ""
    assert text.strip()
    assert final.usage_metadata is not None and (final.usage_metadata.candidates_token_count or 0) > 0
    assert final.finish_reason in (types.FinishReason.STOP, types.FinishReason.MAX_TOKENS)


async def test_streamed_turn_yields_partials_then_the_aggregate(chat_model: LocalChat) -> None:
    req = _request("Write one sentence about the sea.", max_output_tokens=40)
    out = [r async for r in chat_model.generate_content_async(req, stream=True)]
    partials, final = out[:-1], out[-1]
    assert len(partials) >= 2 and all(r.partial for r in partials)
    assert not final.partial and final.turn_complete
    streamed = "".join(p.text or "" for r in partials for p in (r.content.parts if r.content else []))
    assert final.content is not None
    assert streamed == final.content.parts[0].text
    assert streamed.strip()


async def test_max_output_tokens_is_respected(chat_model: LocalChat) -> None:
    out = [
        r
        async for r in chat_model.generate_content_async(
            _request("Count from one to one hundred.", max_output_tokens=5)
        )
    ]
    assert out[-1].finish_reason == types.FinishReason.MAX_TOKENS
    assert out[-1].usage_metadata is not None
    assert out[-1].usage_metadata.candidates_token_count == 5


async def test_tools_are_ignored_by_a_model_without_tool_support(chat_model: LocalChat) -> None:
    assert await chat_model.supports_tools() is False
    req = _request("Hello!", max_output_tokens=16)
    assert req.config is not None
    req.config.tools = [types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_weather", description="Weather for a city",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}})])]  # fmt: skip
    out = [r async for r in chat_model.generate_content_async(req)]
    assert out[-1].content is not None
    assert all(p.function_call is None for p in out[-1].content.parts or [])


async def test_concurrent_turns_share_one_model(chat_model: LocalChat) -> None:
    import asyncio

    async def turn(q: str) -> str:
        out = [r async for r in chat_model.generate_content_async(_request(q, max_output_tokens=12))]
        assert out[-1].content is not None
        return out[-1].content.parts[0].text or ""

    texts = await asyncio.gather(*(turn(q) for q in ("Say hi.", "Name a color.", "Name a fruit.")))
    assert all(t.strip() for t in texts)


async def test_a_turn_through_the_adk_runner(chat_model: LocalChat) -> None:
    from google.adk.agents import LlmAgent
    from google.adk.runners import InMemoryRunner

    agent = LlmAgent(name="local_agent", model=chat_model, instruction="You are a helpful assistant.",
                     generate_content_config=types.GenerateContentConfig(temperature=0, max_output_tokens=24))  # fmt: skip
    runner = InMemoryRunner(agent=agent, app_name="magec-local-test")
    session = await runner.session_service.create_session(app_name="magec-local-test", user_id="u")
    texts = []
    async for event in runner.run_async(
        user_id="u", session_id=session.id,
        new_message=types.Content(role="user", parts=[types.Part(text="What is the capital of France?")]),
    ):  # fmt: skip
        if event.content and event.content.parts and not event.partial:
            texts += [p.text for p in event.content.parts if p.text]
    assert "".join(texts).strip()


async def test_an_unknown_model_is_not_found(spec) -> None:  # type: ignore[no-untyped-def]
    from magec.backends.local import TYPE
    from magec.errors import BackendNotFoundError

    llm = TYPE.chat(spec, "no-such-model")
    with pytest.raises(BackendNotFoundError, match="no-such-model"):
        [r async for r in llm.generate_content_async(_request("hi"))]


async def test_a_stream_abandoned_early_stops_generation_and_frees_the_model(chat_model: LocalChat) -> None:
    import time

    stream = chat_model.generate_content_async(
        _request("Count from one to five hundred.", max_output_tokens=400), stream=True
    )
    first = await anext(stream)
    assert first.partial
    started = time.perf_counter()
    await stream.aclose()  # client went away
    assert time.perf_counter() - started < 2.0  # did not wait for 400 tokens
    out = [r async for r in chat_model.generate_content_async(_request("Say hi.", max_output_tokens=8))]
    assert out[-1].content is not None and (out[-1].content.parts[0].text or "").strip()


async def test_json_schema_output_is_grammar_constrained(chat_model: LocalChat) -> None:
    import json

    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    req = _request("Name the capital of France as JSON.", max_output_tokens=40,
                   response_mime_type="application/json", response_json_schema=schema)  # fmt: skip
    out = [r async for r in chat_model.generate_content_async(req)]
    assert out[-1].content is not None
    value = json.loads(out[-1].content.parts[0].text or "")
    assert isinstance(value["city"], str)


async def test_a_prompt_longer_than_the_context_is_a_bad_request(chat_model: LocalChat) -> None:
    from magec.errors import BackendBadRequestError

    with pytest.raises(BackendBadRequestError, match="context"):
        [r async for r in chat_model.generate_content_async(_request("hello " * 5000))]
