"""An Anthropic answer whose text is no string ends as a clean malformed answer, whole or streamed.

Whatever answers at an ``anthropic`` backend's URL writes the body: a text block (or a text delta)
whose ``text`` is a number or an object was dropped, and the turn answered nothing, as if the model
had been silent. Served verbatim by a small server speaking the Messages API; driven through
``/v1/chat/completions``, whole and streamed.
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
#: user text -> the text value of the answer's one text block
TEXTS: dict[str, Any] = {"number": 42, "object": {"value": "hi"}, "list": ["hi"]}


@pytest.fixture(scope="module")
def odd() -> Iterator[FakeServer]:
    app = FastAPI()

    @app.post("/v1/messages")
    async def messages(request: Request) -> Any:
        body = await request.json()
        text = TEXTS[body["messages"][-1]["content"][-1]["text"]]
        usage = {"input_tokens": 3, "output_tokens": 1}
        if not body.get("stream"):
            return {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "stop_reason": "end_turn",
                    "content": [{"type": "text", "text": text}], "usage": usage}

        def event(kind: str, data: dict[str, Any]) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

        async def events() -> Any:
            yield event("message_start", {"message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                      "model": "m", "content": [], "usage": usage}})
            yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})
            yield event("content_block_stop", {"index": 0})
            yield event("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}})
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream")

    with FakeServer(app) as srv:
        yield srv


async def test_text_that_is_no_string_is_a_malformed_answer(sqlite_apps: Apps, odd: FakeServer) -> None:
    apps = sqlite_apps
    for i, text in enumerate(TEXTS):
        # a backend per case: each malformed answer counts against its breaker
        b = await apps.admin.post(f"{A}/backends", json={"name": f"odd {i}", "type": "anthropic", "url": odd.url,
                                                          "apiKey": "k", "maxAttempts": 1})
        assert b.status_code == 201, b.text
        a = await apps.admin.post(f"{A}/agents", json={"name": f"odd {i}",
                                                       "llm": {"backend": b.json()["id"], "model": "m"}})
        aid = a.json()["id"]
        request = {"model": aid, "messages": [{"role": "user", "content": text}]}
        r = await apps.user.post("/v1/chat/completions", json=request)
        assert r.status_code == 502, (text, r.text)
        assert r.json()["error"]["code"] == "malformed_response" and "text" in r.json()["error"]["message"], r.text
        r = await apps.user.post("/v1/chat/completions", json={**request, "stream": True})
        if r.status_code == 200:  # output went first: the stream ends with one error chunk
            last = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")][-1]
            assert json.loads(last)["error"]["code"] == "malformed_response", (text, r.text)
        else:
            assert r.status_code == 502 and r.json()["error"]["code"] == "malformed_response", (text, r.text)
