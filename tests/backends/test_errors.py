"""Every failure mode maps to the most specific magec error, for every vendor, without leaking the key."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from backend_helpers import KEY, assert_no_key, collect, spec_for
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from google.adk.models import LlmRequest
from google.genai import types

from magec.backends import registry
from magec.errors import (
    BackendAuthError,
    BackendBadRequestError,
    BackendConnectionError,
    BackendError,
    BackendHTTPError,
    BackendNotFoundError,
    BackendRateLimitError,
    BackendTimeoutError,
    ContentFilteredError,
    MalformedResponseError,
)
from magec.testing.fake_providers import FakeServer, Reply

VENDORS = ["openai", "anthropic", "gemini"]
FILTER_REASON = {"openai": "content_filter", "anthropic": "refusal", "gemini": "SAFETY"}


@pytest.fixture(params=VENDORS)
def vendor(request: pytest.FixtureRequest) -> tuple[str, FakeServer]:
    name = request.param
    return name, request.getfixturevalue(f"{name}_srv")


def _req() -> LlmRequest:
    return LlmRequest(
        model="m-test",
        contents=[types.Content(role="user", parts=[types.Part.from_text(text="hi")])],
        config=types.GenerateContentConfig(),
    )


def _chat(
    name: str, url: str, *, stream: bool, timeout: float = 10.0, key: str = KEY
) -> Callable[[], Awaitable[Any]]:
    llm = registry.get(name).chat(spec_for(url, name, timeout=timeout, key=key), "m-test")
    return lambda: collect(llm, _req(), stream=stream)


async def _raises(kind: type[BackendError], call: Callable[[], Awaitable[Any]]) -> BackendError:
    with pytest.raises(kind) as info:
        await call()
    assert_no_key(info.value)
    assert info.value.backend
    return info.value


@pytest.mark.parametrize("stream", [False, True])
async def test_auth_error_redacts_echoed_key(vendor: tuple[str, FakeServer], stream: bool) -> None:
    name, srv = vendor
    srv.script(Reply.fail(401, f"invalid x-api-key {KEY} given"))
    err = await _raises(BackendAuthError, _chat(name, srv.url, stream=stream))
    assert err.status == 401 and "***" in str(err)


async def test_wrong_key_is_rejected_by_fake(vendor: tuple[str, FakeServer]) -> None:
    name, srv = vendor
    await _raises(BackendAuthError, _chat(name, srv.url, stream=False, key="magec-wrong-key-xyz"))


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BackendBadRequestError),
        (403, BackendAuthError),
        (404, BackendNotFoundError),
        (500, BackendHTTPError),
        (503, BackendHTTPError),
    ],
)
async def test_status_mapping(vendor: tuple[str, FakeServer], status: int, kind: type[BackendError]) -> None:
    name, srv = vendor
    srv.script(Reply.fail(status, "nope"))
    err = await _raises(kind, _chat(name, srv.url, stream=True))
    assert isinstance(err, BackendHTTPError) and err.status == status
    assert "nope" in str(err)


async def test_rate_limit_with_retry_after(vendor: tuple[str, FakeServer]) -> None:
    name, srv = vendor
    srv.script(Reply.fail(429, "slow down", headers={"retry-after": "7"}))
    err = await _raises(BackendRateLimitError, _chat(name, srv.url, stream=False))
    assert isinstance(err, BackendRateLimitError) and err.retry_after == 7
    assert len(srv.calls()) == 1  # SDK retries are off


async def test_timeout(vendor: tuple[str, FakeServer]) -> None:
    name, srv = vendor
    srv.script(Reply(text="late", delay=3))
    start = time.monotonic()
    await _raises(BackendTimeoutError, _chat(name, srv.url, stream=False, timeout=0.5))
    assert time.monotonic() - start < 2.5


async def test_connection_refused(closed_port_url: str) -> None:
    for name in VENDORS:
        start = time.monotonic()
        await _raises(BackendConnectionError, _chat(name, closed_port_url, stream=True, timeout=2))
        assert time.monotonic() - start < 2


async def test_malformed_json_body(vendor: tuple[str, FakeServer]) -> None:
    name, srv = vendor
    srv.script(Reply(malformed=True))
    await _raises(MalformedResponseError, _chat(name, srv.url, stream=False))


@pytest.mark.parametrize("body", [
    [1, 2], '"text"', {"choices": "x"}, {"choices": [{"message": None}]}, {"choices": [7]},
    {"choices": [{"message": {"content": "hi", "tool_calls": {"id": 1}}}]},
    {"choices": [{"message": {"tool_calls": [{"id": "c1", "function": "f"}]}}]},
])
async def test_openai_answer_of_the_wrong_shape(openai_srv: FakeServer, body: Any) -> None:
    """Valid JSON that is not a chat completion is a malformed answer, never a crash."""
    openai_srv.script(Reply(body=body))
    err = await _raises(MalformedResponseError, _chat("openai", openai_srv.url, stream=False))
    assert "unexpected response shape" in err.message


async def test_openai_answer_with_odd_but_valid_fields(openai_srv: FakeServer) -> None:
    """No choices is an empty answer, usage is counted (a non-string model is malformed, as in a
    stream); content as typed parts is read (a content of no known shape is malformed:
    tests/backends/test_openai_stream_shapes.py)."""
    openai_srv.script(Reply(body={"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}))
    out = await _chat("openai", openai_srv.url, stream=False)()
    final = out[-1]
    assert final.usage_metadata.prompt_token_count == 3 and final.usage_metadata.candidates_token_count == 4
    openai_srv.script(Reply(body={"choices": [{"message": {"content": [{"type": "text", "text": "x"}], "reasoning": "hm"},
                                               "finish_reason": "stop"}]}))
    out = await _chat("openai", openai_srv.url, stream=False)()
    assert [p.text for p in out[-1].content.parts if p.thought] == ["hm"]
    assert [p.text for p in out[-1].content.parts if not p.thought] == ["x"]
    # a server that labels its JSON answer with another content type is still understood
    answer = {"choices": [{"message": {"content": "plain"}, "finish_reason": "stop"}]}
    openai_srv.script(Reply(body=answer, headers={"content-type": "text/plain"}))
    out = await _chat("openai", openai_srv.url, stream=False)()
    assert out[-1].content.parts[0].text == "plain"
    openai_srv.script(Reply(body="<html>oops</html>", headers={"content-type": "text/html"}))
    await _raises(MalformedResponseError, _chat("openai", openai_srv.url, stream=False))


@pytest.mark.parametrize("body", [
    [1, 2], '"text"', {"content": "x"}, {"content": [7]},
    {"content": [{"type": "tool_use", "id": "t1", "name": "f", "input": "not an object"}]},
])
async def test_anthropic_answer_of_the_wrong_shape(anthropic_srv: FakeServer, body: Any) -> None:
    """Valid JSON that is not a message is a malformed answer, never a crash."""
    anthropic_srv.script(Reply(body=body))
    err = await _raises(MalformedResponseError, _chat("anthropic", anthropic_srv.url, stream=False))
    assert "unexpected response shape" in err.message


async def test_an_anthropic_error_event_mid_stream_is_the_providers_error() -> None:
    """Anthropic reports a failure after the stream opened as an ``event: error`` (e.g. overloaded):
    the text before it was relayed, pings were skipped, and the error names the provider's reason."""
    app = FastAPI()

    @app.post("/v1/messages")
    async def messages() -> StreamingResponse:
        def ev(kind: str, **data: Any) -> bytes:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

        async def body() -> AsyncIterator[bytes]:
            yield ev("message_start", message={"id": "m", "type": "message", "role": "assistant", "model": "c",
                                               "content": [], "usage": {"input_tokens": 2, "output_tokens": 0}})
            yield ev("content_block_start", index=0, content_block={"type": "text", "text": ""})
            yield ev("content_block_delta", index=0, delta={"type": "text_delta", "text": "half an "})
            yield ev("ping")
            yield ev("error", error={"type": "overloaded_error", "message": "Overloaded"})

        return StreamingResponse(body(), media_type="text/event-stream")

    partials: list[str] = []

    async def call() -> None:
        llm = registry.get("anthropic").chat(spec_for(srv.url, "anthropic"), "m-test")
        async for r in llm.generate_content_async(_req(), stream=True):
            partials.extend(p.text or "" for p in (r.content.parts if r.content and r.content.parts else []))

    with FakeServer(app) as srv:
        err = await _raises(BackendHTTPError, call)
    assert "Overloaded" in err.message
    assert partials == ["half an "]


async def test_malformed_stream_event(vendor: tuple[str, FakeServer]) -> None:
    name, srv = vendor
    srv.script(Reply(text="one two three", malformed=True))
    await _raises(MalformedResponseError, _chat(name, srv.url, stream=True))


async def test_stream_cut_mid_way(vendor: tuple[str, FakeServer]) -> None:
    name, srv = vendor
    srv.script(Reply(text="one two three four five", cut_after=2))
    await _raises(MalformedResponseError, _chat(name, srv.url, stream=True))


@pytest.mark.parametrize("stream", [False, True])
async def test_content_filtered(vendor: tuple[str, FakeServer], stream: bool) -> None:
    name, srv = vendor
    srv.script(Reply(text="", finish_reason=FILTER_REASON[name]))
    await _raises(ContentFilteredError, _chat(name, srv.url, stream=stream))


async def test_role_errors_are_mapped_too(openai_srv: FakeServer, gemini_srv: FakeServer) -> None:
    for name, srv in (("openai", openai_srv), ("gemini", gemini_srv)):
        spec = spec_for(srv, name)
        srv.script(Reply.fail(429, "busy", headers={"retry-after": "2"}), route="embeddings")
        with pytest.raises(BackendRateLimitError) as info:
            await registry.get(name).embeddings(spec).embed(["x"], "e")
        assert info.value.retry_after == 2
        srv.script(Reply.fail(401, f"bad {KEY}"), route="models")
        with pytest.raises(BackendAuthError) as auth:
            await registry.get(name).models(spec).list_models()
        assert_no_key(auth.value)
    openai_srv.script(Reply.fail(500, "tts down"), route="tts")
    with pytest.raises(BackendHTTPError):
        await registry.get("openai").tts(spec_for(openai_srv, "openai")).synthesize("x", "tts-1", "alloy")
    openai_srv.script(Reply.fail(413, "too big"), route="stt")
    with pytest.raises(BackendBadRequestError):
        await registry.get("openai").stt(spec_for(openai_srv, "openai")).transcribe(b"x", "audio/wav", "w")


async def test_gemini_key_in_url_never_shown(gemini_srv: FakeServer) -> None:
    url_with_key = f"{gemini_srv.url}/v1beta/models/m:generateContent?key={KEY}&alt=sse"
    gemini_srv.script(Reply.fail(400, f"bad request to {url_with_key} (key=AIzaUnregistered123)"))
    err = await _raises(BackendBadRequestError, _chat("gemini", gemini_srv.url, stream=False))
    assert "?key=***" in str(err)
    assert "key" not in gemini_srv.requests[-1].query  # the SDK sends x-goog-api-key, not ?key=
