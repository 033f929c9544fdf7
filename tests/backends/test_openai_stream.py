"""``backends/openai/stream.ChunkBatches``: SSE framing across network reads, whatever the split.

The body is served by httpx's mock transport so each network read is exactly one given piece
(a loopback server cannot pin TCP read boundaries); the request goes through the official SDK.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion

from magec.backends.openai.stream import ChunkBatches


def _event(text: str, finish: str | None = None) -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}
    return f"data: {json.dumps(chunk)}\r\n\r\n".encode()


async def _read(pieces: list[bytes]) -> list[list[dict[str, Any]]]:
    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    client = openai.AsyncOpenAI(api_key="k", base_url="http://provider.test/v1", max_retries=0,
                                http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    stream = await client.post("/chat/completions", body={"model": "m", "stream": True}, cast_to=ChatCompletion,
                               stream=True, stream_cls=ChunkBatches)
    return [batch async for batch in stream]  # type: ignore[attr-defined]


def _texts(batches: list[list[dict[str, Any]]]) -> list[str]:
    return [c["choices"][0]["delta"]["content"] for b in batches for c in b]


@pytest.mark.parametrize("cut", ["inside_crlf", "between_blank_lines", "every_byte"])
async def test_crlf_framing_survives_any_read_boundary(cut: str) -> None:
    body = _event("Hello") + _event(" world", finish="stop") + b"data: [DONE]\r\n\r\n"
    if cut == "every_byte":
        pieces = [body[i:i + 1] for i in range(len(body))]
    else:
        # the first event's terminator split as "...\r" | "\n\r\n" or "...\r\n\r" | "\n"
        end = len(_event("Hello"))
        at = end - 3 if cut == "inside_crlf" else end - 1
        pieces = [body[:at], body[at:end + len(_event(" world")) - 1], body[end + len(_event(" world")) - 1:]]
    batches = await _read(pieces)
    assert _texts(batches) == ["Hello", " world"]
    assert batches[-1][-1]["choices"][0]["finish_reason"] == "stop"


async def test_events_of_one_read_come_as_one_batch_and_lf_framing_works() -> None:
    body = (_event("a") + _event("b") + _event("c", finish="stop")).replace(b"\r\n", b"\n") + b"data: [DONE]\n\n"
    batches = await _read([body])
    assert len(batches) == 1 and _texts(batches) == ["a", "b", "c"]


async def test_an_unterminated_last_event_is_dropped() -> None:
    # a cut stream: the half event is not parsed (the caller reports the stream as incomplete)
    batches = await _read([_event("a"), b'data: {"id": "c", "choi'])
    assert _texts(batches) == ["a"]
