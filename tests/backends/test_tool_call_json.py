"""A tool call's ``arguments`` are a model's JSON text, read with magec's parser: NaN or nesting
deep enough for a RecursionError is malformed JSON, answered as a syntax error is (the backend's
malformed-answer error), not an internal error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.runtime.test_run_api import make_agent

ARGS = {"syntax": "{not json", "nan": '{"x": NaN}', "deep": '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}"}
answer: dict[str, str] = {}


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeServer]:
    app = FastAPI()

    @app.post("/chat/completions")
    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": answer["args"]}}
        return JSONResponse({"id": "c", "object": "chat.completion", "created": 0, "model": "m-1", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]},
             "finish_reason": "tool_calls"}]})

    with FakeServer(app) as server:
        yield server


async def test_nasty_tool_call_arguments_are_a_malformed_answer(sqlite_apps: Apps, provider: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, provider)
    outcomes = {}
    for name, args in ARGS.items():
        answer["args"] = args
        r = await sqlite_apps.user.post("/v1/chat/completions",
                                        json={"model": aid, "messages": [{"role": "user", "content": "go"}]})
        outcomes[name] = (r.status_code, r.json()["error"].get("code"))
    assert outcomes["syntax"][0] != 500, outcomes
    assert outcomes["nan"] == outcomes["deep"] == outcomes["syntax"], outcomes


@pytest.fixture(scope="module")
def streaming() -> Iterator[FakeServer]:
    """A provider whose stream carries one chunk of ``answer["chunk"]`` (the raw ``data:`` text)."""
    from fastapi.responses import StreamingResponse

    app = FastAPI()

    @app.post("/chat/completions")
    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield f"data: {answer['chunk']}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    with FakeServer(app) as server:
        yield server


async def test_a_nasty_stream_chunk_is_a_malformed_answer(sqlite_apps: Apps, streaming: FakeServer) -> None:
    """A provider's stream chunk nested deep enough for a RecursionError is as malformed as one
    that is no JSON at all (it was an internal error)."""
    _, aid = await make_agent(sqlite_apps, streaming)
    outcomes = {}
    for name, chunk in (("syntax", "{not json"), ("deep", "[" * 100_000 + "]" * 100_000)):
        answer["chunk"] = chunk
        r = await sqlite_apps.user.post("/v1/chat/completions", json={
            "model": aid, "stream": True, "messages": [{"role": "user", "content": "go"}]})
        codes = [c for c in ("malformed_response", "internal_error", "backend_error") if c in r.text]
        outcomes[name] = (r.status_code, codes)
    assert outcomes["syntax"][1] == ["malformed_response"], outcomes
    assert outcomes["deep"] == outcomes["syntax"], outcomes
