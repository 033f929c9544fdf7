"""The answer before the bookkeeping: a turn's answer goes out as soon as it exists, the rest of the
turn (ADK's spans, the flow's end) runs after it, and nothing a client sees is lost or reordered.

Three layers, each as its users meet it:

* :meth:`DirectRunner.answers` on real ADK runs: exactly the agent's reply is the answer, and
  nothing follows it (text, a server tool then text, a client tool's call, a failure, streamed);
* :func:`magec.runtime.run.answer` and :func:`magec.backends.relay.relaying` on scripted turns:
  the answer returns while the turn is still running, ``rest`` waits for it, a cancellation before
  the answer cancels the turn, a failure after it is logged (never raised at the client);
* over HTTP, as clients: with one turn allowed at a time (``limits.maxRuns: 1``), a client that
  sends its next turn the moment it has an answer is served every time, on every surface — the
  turn's slot is free before its answer goes out — and the stored session holds the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.adk.agents import LlmAgent
from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.runners import Runner
from google.genai import types

from magec.agents.direct import DirectRunner
from magec.agents.ephemeral_sessions import EphemeralSessionService
from magec.backends.relay import Relay, Token, relaying
from magec.runtime.run import TurnEvent, answer, ensure_session, require_app, run_turn
from magec.server import user_app
from magec.testing.apps import Apps, running_apps, serving
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from tests.runtime.test_direct_runner import LongRunning, Scripted, add
from tests.runtime.test_run_api import make_agent, texts

U = "/api/v1/agent"


# -- which event answers ------------------------------------------------------------------------
def _direct(tools: list[Any]) -> DirectRunner:
    agent = LlmAgent(name="helper", model=Scripted(), instruction="be brief", tools=tools)
    return DirectRunner(Runner(app_name="app", agent=agent, session_service=EphemeralSessionService()))


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("text", "answered"),
    [("hello", True), ("CALL add", True), ("CALL client_tool", False), ("FAIL", False)],
)
async def test_the_reply_is_the_answer_and_nothing_follows_it(text: str, answered: bool, streaming: bool) -> None:
    runner = _direct([add, LongRunning()])
    session = await runner.session_service.create_session(app_name="app", user_id="u")
    mode = StreamingMode.SSE if streaming else StreamingMode.NONE
    events = []
    try:
        async for e in runner.run_async(user_id="u", session_id=session.id,
                                        new_message=types.Content(role="user", parts=[types.Part(text=text)]),
                                        run_config=RunConfig(streaming_mode=mode)):
            events.append(e)
    except Exception:  # noqa: BLE001 - a failed model call raises after its error event (ADK's way)
        pass
    marked = [i for i, e in enumerate(events) if runner.answers(e)]
    if not answered:
        assert marked == []
        return
    # one answer, the last event of the turn, with the reply's text
    assert marked == [len(events) - 1], [(e.author, e.content) for e in events]
    reply = events[-1]
    assert reply.content is not None and reply.content.parts and reply.content.parts[0].text
    assert not reply.get_function_calls() and not reply.partial


# -- answer(): the answer now, the rest later ---------------------------------------------------
def _event(text: str, final: bool = False) -> TurnEvent:
    return TurnEvent(None, "a", "A", True, final=final, error_message=text)


async def test_answer_returns_at_the_answer_and_rest_waits_for_the_turn() -> None:
    gate = asyncio.Event()
    ended: list[str] = []

    async def turn() -> AsyncGenerator[TurnEvent, None]:
        yield _event("one")
        yield _event("two", final=True)
        await gate.wait()  # the bookkeeping after the answer
        ended.append("done")

    got = await asyncio.wait_for(answer(turn()), 5)
    # answered while the turn's bookkeeping cannot have finished (its gate is still shut)
    assert [e.error_message for e in got.events] == ["one", "two"] and not ended
    gate.set()
    await asyncio.wait_for(got.rest(), 5)
    assert ended == ["done"]


async def test_the_answer_is_handed_over_before_bookkeeping_that_never_waits() -> None:
    """Bookkeeping after the answer that never suspends (CPU only: ADK's flow end, the audit probe)
    would otherwise run to its end before the waiting edge is resumed: the answer goes first."""
    handed: list[bool] = []
    seen: list[bool] = []

    async def turn() -> AsyncGenerator[TurnEvent, None]:
        yield _event("reply", final=True)
        seen.append(bool(handed))  # no await before this: only the hand-over can put the edge first

    got = await answer(turn())  # awaited in this task, as an edge does (no wait_for task between)
    handed.append(True)
    await asyncio.wait_for(got.rest(), 5)
    assert [e.error_message for e in got.events] == ["reply"] and seen == [True]


async def test_a_turn_without_an_answer_mark_is_collected_whole() -> None:
    async def turn() -> AsyncGenerator[TurnEvent, None]:
        for t in ("a", "b", "c"):
            await asyncio.sleep(0)
            yield _event(t)

    got = await answer(turn())
    assert [e.error_message for e in got.events] == ["a", "b", "c"]
    await asyncio.wait_for(got.rest(), 1)


async def test_cancelled_before_the_answer_cancels_the_turn() -> None:
    closed: list[str] = []

    waiting = asyncio.Event()

    async def turn() -> AsyncGenerator[TurnEvent, None]:
        try:
            yield _event("thinking")
            waiting.set()
            await asyncio.Event().wait()  # the provider never answers
            yield _event("never", final=True)
        finally:
            closed.append("closed")

    task = asyncio.ensure_future(answer(turn()))
    await waiting.wait()  # the turn is waiting on its provider
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == ["closed"]


async def test_a_failure_after_the_answer_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def turn() -> AsyncGenerator[TurnEvent, None]:
        yield _event("answer", final=True)
        await asyncio.sleep(0)
        raise RuntimeError("telemetry exploded")

    got = await answer(turn())
    assert [e.error_message for e in got.events] == ["answer"]
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(got.rest(), 5)
    assert "telemetry exploded" in caplog.text


# -- the relay: release, rest, and the first delta handed over ----------------------------------
@pytest.mark.parametrize("release", [True, False], ids=["released", "not released"])
async def test_a_released_relay_lets_the_turn_finish_and_an_unreleased_one_cancels_it(release: bool) -> None:
    gate = asyncio.Event()
    ended: list[str] = []

    async def turn() -> AsyncIterator[TurnEvent]:
        try:
            yield _event("answer", final=True)
            await gate.wait()
            ended.append("finished")
        finally:
            ended.append("closed")

    relay = Relay()
    batches = relaying(turn(), relay)
    async for batch in batches:
        assert batch[0].final
        if release:
            relay.release()
        break
    await batches.aclose()  # the edge's response ends here
    if release:
        assert ended == []  # still running: not cancelled
        gate.set()
        await asyncio.wait_for(relay.rest(), 5)
        assert ended == ["finished", "closed"]
    else:
        assert ended == ["closed"]  # cancelled when the edge closed


async def test_the_first_delta_reaches_a_waiting_edge_before_the_turn_goes_on() -> None:
    relay = Relay()

    async def turn() -> AsyncIterator[Any]:
        sink = relay
        # one network read carrying two deltas, then (no wait in between) the next read's delta
        sink.text("a")
        sink.text("b")
        await sink.handoff()
        sink.text("c")
        await sink.handoff()  # not the first: no hand-over
        sink.text("d")
        yield _event("done", final=True)

    got = []
    async for batch in relaying(turn(), relay):
        got.append([x.text if isinstance(x, Token) else "<event>" for x in batch])
    assert got[0] == ["a", "b"]  # went out before the turn produced "c"
    assert [t for b in got for t in b] == ["a", "b", "c", "d", "<event>"]
    assert got[1:] == [["c", "d", "<event>"]]


async def test_a_turn_is_off_the_books_before_its_answer_is_out(tmp_path: Path, provider: FakeServer) -> None:
    """The turn's observers finish before the answer reaches the edge: admission has freed the
    slot (a client's next turn cannot find this one still running), the audit has the turn."""
    async with running_apps(tmp_path / "data", config={"max_runs": 1}) as apps:
        _, aid = await make_agent(apps, provider)
        assert apps.ctx.runtime is not None
        rt = await apps.ctx.runtime.fresh()
        app = require_app(rt, aid)
        admission = apps.ctx.extras["admission"]
        for streaming in (False, True):
            sid = await ensure_session(rt, app, "u", None)
            seen = []
            message = types.Content(role="user", parts=[types.Part(text="hi")])
            async for event in run_turn(rt, app, "u", sid, message, streaming=streaming):
                seen.append((event.text, event.final, admission.in_flight))
            # streamed outside a relay the partials come first: none of them is the answer
            assert seen[-1] == ("quick says: hi", True, 0) and not any(final for _, final, _ in seen[:-1])


# -- over HTTP: a client's next turn is never refused by the one it just got an answer from -----
@dataclass
class Served:
    apps: Apps
    user: httpx.AsyncClient  # on a real socket: the answer is seen before the turn's bookkeeping


@pytest.fixture
async def one_at_a_time(tmp_path: Path) -> AsyncIterator[Served]:
    async with (
        running_apps(tmp_path / "data", config={"max_runs": 1}) as apps,
        serving(user_app(apps.ctx)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as user,
    ):
        yield Served(apps, user)


@pytest.fixture
def provider() -> AsyncIterator[FakeServer]:
    with FakeServer(OpenAIFake("quick", api_key="sk-x-key-1234")) as s:
        yield s  # type: ignore[misc]


async def _sse_data(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    async with client.stream("POST", path, json=body) as r:
        assert r.status_code == 200, await r.aread()
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                out.append(line[6:])
    return out


async def _in_flight(client: httpx.AsyncClient) -> float:
    found = re.search(r"^magec_runs_in_flight (\S+)$", (await client.get("/metrics")).text, re.M)
    assert found
    return float(found.group(1))


async def test_the_next_turn_right_after_an_answer_is_served_on_every_surface(
    one_at_a_time: Served, provider: FakeServer
) -> None:
    apps, user = one_at_a_time.apps, one_at_a_time.user
    _, aid = await make_agent(apps, provider)
    msg = {"role": "user", "parts": [{"text": "hi"}]}
    chat = {"model": aid, "messages": [{"role": "user", "content": "hi"}]}
    for i in range(6):
        r = await user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": "s", "newMessage": msg})
        assert r.status_code == 200 and texts(r.json()) == ["quick says: hi"], r.text
        # the answer is stored by the time the client has it
        stored = (await user.get(f"{U}/apps/{aid}/users/u/sessions/s")).json()["events"]
        assert len(stored) == 2 * (i + 1) and stored[-1]["content"]["parts"][0]["text"] == "quick says: hi"
        events = [json.loads(e) for e in await _sse_data(user, f"{U}/run_sse", {
            "appName": aid, "userId": "u", "sessionId": "t", "streaming": i % 2 == 0, "newMessage": msg})]
        assert [p["text"] for e in events if not e.get("partial") for p in e["content"]["parts"]] == ["quick says: hi"]
        r = await user.post("/v1/chat/completions", json=chat)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "quick says: hi", r.text
        data = await _sse_data(user, "/v1/chat/completions", {**chat, "stream": True})
        assert data[-1] == "[DONE]"
        chunks = [json.loads(d) for d in data[:-1]]
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "quick says: hi"
        r = await user.post("/v1/responses", json={"model": aid, "input": "hi"})
        assert r.status_code == 200 and r.json()["output"][0]["content"][0]["text"] == "quick says: hi", r.text
        kinds = [json.loads(d)["type"] for d in await _sse_data(user, "/v1/responses",
                                                                 {"model": aid, "input": "hi", "stream": True})]
        assert kinds[-1] == "response.completed"
    assert await _in_flight(user) == 0


async def test_a_client_that_hangs_up_mid_stream_ends_its_turn(one_at_a_time: Served, provider: FakeServer) -> None:
    apps, user = one_at_a_time.apps, one_at_a_time.user
    _, aid = await make_agent(apps, provider)
    provider.script(Reply(chunks=[f"w{i} " for i in range(10)], chunk_delay=2.0))  # a 20 s answer
    body = {"model": aid, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with user.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if '"content": "w0 "' in line:
                break  # the first token is here: hang up
    # a client watching the gauge: the turn ended with the connection, not with the provider
    for _ in range(200):
        if await _in_flight(user) == 0:
            break
        await asyncio.sleep(0.025)
    assert await _in_flight(user) == 0
    provider.script(Reply(text="next"))
    r = await user.post("/v1/chat/completions", json={**body, "stream": False})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "next"
