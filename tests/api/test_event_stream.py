"""``magec.api.streaming``'s event streams over real HTTP (uvicorn on loopback; an httpx client
reading the raw bytes as an EventSource would, and the openai SDK): headers before the first
event, ``: ping`` comments while the stream is idle, one ``data:`` line per line of an event, a
disconnect that closes the events' iterator and still runs the background, an iterator's failure
that ends the stream without a clean end, and an OpenAI-shaped stream whose first chunk comes
after several pings read whole by the openai SDK. The served iterators are driven by the test
through threading events and permits, so the test waits on no timer."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.routing import Route

from magec.api.streaming import EventStreamResponse, SseResponse
from magec.testing.fake_providers import FakeServer

WAIT = 30.0


class Script:
    """What the served iterator does, and what the test learns from it."""

    def __init__(self) -> None:
        self.release = threading.Event()  # set by the test: the iterator goes on
        self.closed = threading.Event()  # the iterator's ``finally`` ran
        self.background = threading.Event()  # the response's background ran
        self.permits = threading.Semaphore(0)  # one per OpenAI-shaped request: its answer may begin


async def _wait(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT)


@pytest.fixture
def served() -> Iterator[tuple[str, Script]]:
    script = Script()

    def scripted(steps: AsyncIterator[str], ping: float) -> EventStreamResponse:
        async def events() -> AsyncIterator[str]:
            try:
                async for data in steps:
                    yield data
            finally:
                script.closed.set()

        return EventStreamResponse(events(), ping=ping, background=BackgroundTask(script.background.set))

    async def idle_first(request: Request) -> EventStreamResponse:
        async def steps() -> AsyncIterator[str]:
            await _wait(script.release)
            for data in ('{"a": 1}', "two\nlines", "last"):
                yield data

        return scripted(steps(), ping=0.05)

    async def then_hang(request: Request) -> EventStreamResponse:
        async def steps() -> AsyncIterator[str]:
            yield "one"
            await asyncio.Event().wait()  # only a disconnect ends this stream
            yield "never"

        return scripted(steps(), ping=0)

    async def then_fail(request: Request) -> EventStreamResponse:
        async def events() -> AsyncIterator[str]:
            yield "one"
            raise RuntimeError("the iterator failed")

        return EventStreamResponse(events(), ping=0)

    async def chat_completions(request: Request) -> SseResponse:
        async def chunks() -> AsyncIterator[bytes]:
            # the provider "thinks" until the test lets it answer: pings are the stream's only output
            assert await asyncio.to_thread(script.permits.acquire, True, WAIT)
            for i, text in enumerate(("late ", "answer")):
                delta = {"role": "assistant", "content": text} if i == 0 else {"content": text}
                yield _chunk(delta, None)
            yield _chunk({}, "stop") + b"data: [DONE]\n\n"

        return SseResponse(chunks(), ping=0.02)

    routes = [Route(f"/{f.__name__}", f) for f in (idle_first, then_hang, then_fail)]
    app = Starlette(routes=[*routes, Route("/v1/chat/completions", chat_completions, methods=["POST"])])
    with FakeServer(app) as server:
        yield server.url, script


def test_headers_first_pings_while_idle_then_events(served: tuple[str, Script]) -> None:
    url, script = served
    with httpx.Client(timeout=WAIT) as client, client.stream("GET", f"{url}/idle_first") as r:
        # the headers are here while the iterator has produced nothing
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert r.headers["cache-control"] == "no-store" and r.headers["x-accel-buffering"] == "no"
        received = b""
        chunks = r.iter_raw()
        while received.count(b": ping\n\n") < 2:
            received += next(chunks)
        assert received == b": ping\n\n" * received.count(b": ping\n\n")  # nothing but pings yet
        script.release.set()
        for chunk in chunks:
            received += chunk
    events = received.replace(b": ping\n\n", b"")
    assert events == b'data: {"a": 1}\n\ndata: two\ndata: lines\n\ndata: last\n\n'
    assert script.closed.wait(WAIT) and script.background.wait(WAIT)


def test_a_client_that_hangs_up_closes_the_iterator_and_the_background_runs(served: tuple[str, Script]) -> None:
    url, script = served
    with httpx.Client(timeout=WAIT) as client, client.stream("GET", f"{url}/then_hang") as r:
        chunks = r.iter_raw()  # held: a dropped iterator closes the connection at once
        assert next(chunks) == b"data: one\n\n"
        assert not script.closed.is_set()
    # the connection is closed: the server sees the disconnect, closes the iterator, runs the background
    assert script.closed.wait(WAIT)
    assert script.background.wait(WAIT)


def test_a_failing_iterator_ends_the_stream_without_a_clean_end(served: tuple[str, Script]) -> None:
    url, _ = served
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.Client(timeout=WAIT) as client,
        client.stream("GET", f"{url}/then_fail") as r,
    ):
        for chunk in r.iter_raw():
            received += chunk
    assert received == b"data: one\n\n"


def _chunk(delta: dict[str, str], finish: str | None) -> bytes:
    data = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(data)}\n\n".encode()


def test_an_openai_stream_whose_first_chunk_comes_after_pings(served: tuple[str, Script]) -> None:
    url, script = served
    with httpx.Client(timeout=WAIT) as client, client.stream("POST", f"{url}/v1/chat/completions") as r:
        received = b""
        chunks = r.iter_raw()
        while received.count(b": ping\n\n") < 2:
            received += next(chunks)
        assert received == b": ping\n\n" * received.count(b": ping\n\n")  # the headers came with a ping
        script.permits.release()
        for chunk in chunks:
            received += chunk
    assert received.endswith(b"data: [DONE]\n\n")
    sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
    # create() returns with the headers, which only a ping can have sent: the answer waits for its permit
    stream = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    script.permits.release()
    pieces = [c.choices[0].delta.content for c in stream]
    assert "".join(p or "" for p in pieces) == "late answer"
