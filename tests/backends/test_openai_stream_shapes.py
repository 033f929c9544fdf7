"""An OpenAI-protocol stream of the wrong shape ends as a clean malformed answer.

Whatever answers at a backend's URL writes the chunks: ``content`` as a number or an object, a
tool call that is no object, an index that is no number, a model name that is no string. Each must
end the turn with ``malformed_response`` naming the backend — never ``internal_error`` or a
``TypeError``'s text. Served verbatim by a small SSE server; driven through ``/run_sse`` and a
streamed ``/v1/chat/completions``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer

A = "/api/v1/admin"
U = "/api/v1/agent"

#: user text -> the one odd delta (or chunk field) the stream carries
CASES: dict[str, dict[str, Any]] = {
    "number": {"delta": {"content": 42}},
    "object": {"delta": {"content": {"text": "hi"}}},
    "list": {"delta": {"content": ["hi"]}},
    "call": {"delta": {"tool_calls": ["not an object"]}},
    "function": {"delta": {"tool_calls": [{"index": 0, "function": "f"}]}},
    "index": {"delta": {"tool_calls": [{"index": "first", "id": "c1", "function": {"name": "f"}}]}},
    "name": {"delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": 7, "arguments": "{}"}}]}},
    "model": {"model": 5, "delta": {"content": "hi"}},
    "finish": {"delta": {"content": "hi"}, "finish_reason": {"why": "stop"}},
}

#: user text -> the message content of a whole (not streamed) answer
ANSWERS: dict[str, Any] = {"number": 42, "object": {"text": "hi"}, "list": ["hi"],
                           "part": [{"type": "text", "text": 7}], "thinking": [{"type": "thinking", "thinking": 3}]}
#: user text -> (a whole answer whose other text field is of the wrong type, the field named)
WHOLE_FIELDS: dict[str, tuple[dict[str, Any], str]] = {
    "model": ({"model": 5, "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                        "finish_reason": "stop"}]}, "model"),
    "finish": ({"model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                           "finish_reason": {"why": "stop"}}]}, "choices[0].finish_reason"),
    "call id": ({"model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "tool_calls": [{"id": 3, "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]},
        "choices[0].message.tool_calls[0].id"),
    "name": ({"model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": 7, "arguments": "{}"}}]}}]},
        "choices[0].message.tool_calls[0].function.name"),
    "arguments": ({"model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}}]},
        "choices[0].message.tool_calls[0].function.arguments"),
}
#: content as typed parts, as Mistral's reasoning models answer: the thinking is no part of the answer
PARTS = [{"type": "thinking", "thinking": [{"type": "text", "text": "Let me think."}]},
         {"type": "text", "text": "Bonjour"}, {"type": "reference", "reference_ids": [1]}, {"type": "text", "text": "!"}]


@pytest.fixture(scope="module")
def odd() -> Iterator[FakeServer]:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        said = body["messages"][-1]["content"]
        if said == "parts" and body.get("stream"):
            deltas = [{"role": "assistant", "content": [part]} for part in PARTS]
            lines = [json.dumps({"id": "x", "object": "chat.completion.chunk", "model": "m",
                                 "choices": [{"index": 0, "delta": d, "finish_reason": None}]}) for d in deltas]
            done = json.dumps({"id": "x", "object": "chat.completion.chunk", "model": "m",
                               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            return StreamingResponse(iter([f"data: {line}\n\n" for line in [*lines, done]] + ["data: [DONE]\n\n"]),
                                     media_type="text/event-stream")
        if not body.get("stream") and said in WHOLE_FIELDS:
            return {"id": "x", "object": "chat.completion", **WHOLE_FIELDS[said][0]}
        if not body.get("stream"):  # a whole answer whose message content is of the wrong type
            content = PARTS if said == "parts" else ANSWERS[said]
            return {"id": "x", "object": "chat.completion", "model": "m", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
        case = CASES[body["messages"][-1]["content"]]

        def chunk(delta: dict[str, Any], finish: Any = None, model: Any = "m") -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return "data: " + json.dumps({"id": "x", "object": "chat.completion.chunk", "model": model,
                                          "choices": [choice]}) + "\n\n"

        async def events() -> Any:
            yield chunk({"role": "assistant", "content": ""})
            yield chunk(case["delta"], model=case.get("model", "m"))
            yield chunk({}, case.get("finish_reason", "stop"))
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    with FakeServer(app) as srv:
        yield srv


async def test_odd_stream_shapes_are_malformed_answers(sqlite_apps: Apps, odd: FakeServer) -> None:
    apps = sqlite_apps
    for i, text in enumerate(CASES):
        # a backend per case: each malformed answer counts against its breaker
        b = await apps.admin.post(f"{A}/backends", json={"name": f"odd {i}", "type": "openai", "url": odd.url,
                                                          "maxAttempts": 1})
        assert b.status_code == 201, b.text
        a = await apps.admin.post(f"{A}/agents", json={"name": f"odd {i}",
                                                       "llm": {"backend": b.json()["id"], "model": "m"}})
        assert a.status_code == 201, a.text
        aid = a.json()["id"]
        run = {"appName": aid, "userId": "u", "sessionId": f"s{i}", "streaming": True,
               "newMessage": {"role": "user", "parts": [{"text": text}]}}
        async with apps.user.stream("POST", f"{U}/run_sse", json=run) as s:
            body = (await s.aread()).decode()
        events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
        codes = [e["errorCode"] for e in events if e.get("errorCode")]
        assert codes == ["malformed_response"], (text, body)
        assert "odd" in events[-1]["errorMessage"] and "Error" not in events[-1]["errorMessage"], (text, body)
        r = await apps.user.post("/v1/chat/completions", json={
            "model": aid, "stream": True, "messages": [{"role": "user", "content": text}]})
        if r.status_code == 200:  # output went first: the stream ends with one error chunk
            chunks = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
            assert chunks[-1] != "[DONE]" and json.loads(chunks[-1])["error"]["code"] == "malformed_response", (
                text, r.text)
        else:
            assert r.status_code == 502 and r.json()["error"]["code"] == "malformed_response", (text, r.text)


async def test_odd_whole_answers_are_malformed_answers(sqlite_apps: Apps, odd: FakeServer) -> None:
    """Not streamed: a message ``content`` that is no string was dropped, and the turn answered
    nothing as if the model had been silent; now the same malformed answer as a stream's."""
    apps = sqlite_apps
    for i, text in enumerate(ANSWERS):
        b = await apps.admin.post(f"{A}/backends", json={"name": f"whole {i}", "type": "openai", "url": odd.url,
                                                          "maxAttempts": 1})
        a = await apps.admin.post(f"{A}/agents", json={"name": f"whole {i}",
                                                       "llm": {"backend": b.json()["id"], "model": "m"}})
        aid = a.json()["id"]
        r = await apps.user.post("/v1/chat/completions", json={
            "model": aid, "messages": [{"role": "user", "content": text}]})
        assert r.status_code == 502, (text, r.text)
        error = r.json()["error"]
        assert error["code"] == "malformed_response" and "content" in error["message"], (text, r.text)


async def test_whole_answers_read_every_text_field_as_a_stream(sqlite_apps: Apps, odd: FakeServer) -> None:
    """Not streamed: a ``model`` (or ``finish_reason``, a tool call's ``id``, ``name`` or
    ``arguments``) that is no string was ignored — the answer went on with no model name, a
    ``stop``, or a tool call with no name or no arguments — where a stream's is a malformed answer
    naming the field; now the whole answer is the same malformed answer."""
    apps = sqlite_apps
    for i, (text, (_, field)) in enumerate(WHOLE_FIELDS.items()):
        b = await apps.admin.post(f"{A}/backends", json={"name": f"fields {i}", "type": "openai", "url": odd.url,
                                                          "maxAttempts": 1})
        a = await apps.admin.post(f"{A}/agents", json={"name": f"fields {i}",
                                                       "llm": {"backend": b.json()["id"], "model": "m"}})
        r = await apps.user.post("/v1/chat/completions", json={
            "model": a.json()["id"], "messages": [{"role": "user", "content": text}]})
        assert r.status_code == 502, (text, r.text)
        error = r.json()["error"]
        assert error["code"] == "malformed_response", (text, r.text)
        assert f"{field} is not a string" in error["message"] and "fields" in error["message"], (text, r.text)


async def test_content_as_typed_parts_is_read(sqlite_apps: Apps, odd: FakeServer) -> None:
    """Mistral's reasoning models answer ``content`` as typed parts, whole and streamed: the text
    parts are the answer (the thinking is not), where the list was dropped (whole) or refused."""
    apps = sqlite_apps
    b = await apps.admin.post(f"{A}/backends", json={"name": "parts", "type": "openai", "url": odd.url})
    a = await apps.admin.post(f"{A}/agents", json={"name": "parts", "llm": {"backend": b.json()["id"], "model": "m"}})
    request = {"model": a.json()["id"], "messages": [{"role": "user", "content": "parts"}]}
    r = await apps.user.post("/v1/chat/completions", json=request)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Bonjour!", r.text
    r = await apps.user.post("/v1/chat/completions", json={**request, "stream": True})
    chunks = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    said = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert r.status_code == 200 and said == "Bonjour!", r.text
