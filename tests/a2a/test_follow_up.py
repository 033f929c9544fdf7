"""A follow-up message to a running A2A task (``message/send`` with its ``taskId`` while its turn
runs), seen as an A2A client sees it: the message is accepted (A2A lets an agent accept messages
for a task that has not ended), its turn runs after the running one on the task's conversation,
and the task ends once, when the last turn ended. Before, the first turn completed the task under
the queued message, whose turn then ran on an ended task and was stopped: a resubscribed stream read
``completed`` → ``working`` → ``canceled`` (a task nobody cancelled), the follow-up's answer was
lost and the task's history lacked its message."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from magec.testing.apps import running_apps
from magec.testing.apps import serving as serve
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from tests.a2a.conftest import Served, make_agent, message, rpc

UNSUPPORTED = -32004


@contextlib.asynccontextmanager
async def _replica(data_dir: Path, db_url: str) -> AsyncIterator[tuple[Any, str]]:
    from magec.server import user_app

    async with running_apps(data_dir, database_url=db_url) as apps, serve(user_app(apps.ctx)) as url:
        yield apps, url


def _texts(items: list[dict[str, Any]]) -> list[str]:
    return ["".join(p.get("text", "") for p in item["parts"]) for item in items]


def _in_order(states: list[str]) -> bool:
    """``states`` (as read, repeats dropped) is a run through submitted → working → completed."""
    order = ["submitted", "working", "completed"]
    return all(s in order for s in states) and [order.index(s) for s in states] == sorted(order.index(s) for s in states)


async def test_a_follow_up_to_a_running_task_runs_after_it_and_ends_it_once(tmp_path: Path, db_url: str) -> None:
    with FakeServer(OpenAIFake("slow")) as llm:
        llm.script(Reply(text="first answer", delay=1.5), Reply(text="second answer", delay=0.5))
        async with _replica(tmp_path / "a", db_url) as (apps, url), _replica(tmp_path / "b", db_url) as (_, other):
            aid = await make_agent(apps, llm)
            endpoint = f"{url}/api/v1/a2a/{aid}"
            async with httpx.AsyncClient(timeout=30) as http:
                async def call(method: str, params: dict[str, Any], at: str = endpoint) -> Any:
                    r = await http.post(at, json=rpc(method, params))
                    assert r.status_code == 200, r.text
                    return r.json()

                first = (await call("message/send", {**message("one"), "configuration": {"blocking": False}}))["result"]
                task_id, context_id = first["id"], first["contextId"]
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 20
                while not llm.calls():  # the first turn is with its provider
                    assert loop.time() < deadline, "the first turn never reached its provider"
                    await asyncio.sleep(0.02)

                streamed: list[dict[str, Any]] = []

                async def resubscribe() -> None:
                    async with http.stream("POST", endpoint, json=rpc("tasks/resubscribe", {"id": task_id})) as r:
                        async for line in r.aiter_lines():
                            if line.startswith("data:"):
                                streamed.append(json.loads(line[5:]))

                polled: list[str] = []

                async def poll() -> None:  # until the task reads as ended
                    while not polled or polled[-1] in ("submitted", "working"):
                        state = (await call("tasks/get", {"id": task_id}))["result"]["status"]["state"]
                        if not polled or polled[-1] != state:
                            polled.append(state)
                        await asyncio.sleep(0.01)

                watching = [asyncio.create_task(resubscribe()), asyncio.create_task(poll())]
                follow = message("two", context_id=context_id)
                follow["message"]["taskId"] = task_id
                answered = await call("message/send", follow)
                await asyncio.wait_for(asyncio.gather(*watching), 20)  # the stream closes with the task

            task = answered["result"]
            assert task["status"]["state"] == "completed", answered
            assert _texts(task["artifacts"]) == ["first answer", "second answer"]
            assert _texts(task["history"]) == ["one", "two"]
            # the follow-up's turn ran on the task's conversation, after the first turn's answer
            second = json.loads(llm.calls()[1].body)["messages"]
            assert [m["content"] for m in second if m["role"] != "system"] == ["one", "first answer", "two"]
            # what every reader saw: states the task went through, in order, and one end
            assert _in_order(polled) and polled[-1] == "completed", polled
            states = [e["result"]["status"]["state"] for e in streamed if "status" in e.get("result", {})]
            assert _in_order([s for i, s in enumerate(states) if not i or states[i - 1] != s]), states
            assert states[-1] == "completed" and states.count("completed") == 1, states
            answers = [e["result"]["artifact"] for e in streamed if e.get("result", {}).get("kind") == "artifact-update"]
            assert {"first answer", "second answer"} <= set(_texts(answers)), streamed
            # the task as stored (another replica reads the database's copy)
            async with httpx.AsyncClient(timeout=30) as http:
                stored = (await http.post(f"{other}/api/v1/a2a/{aid}",
                                          json=rpc("tasks/get", {"id": task_id}))).json()["result"]
                assert stored["status"]["state"] == "completed", stored
                assert _texts(stored["artifacts"]) == ["first answer", "second answer"]
                assert _texts(stored["history"]) == ["one", "two"]
                # and an ended task takes no more messages (A2A: a task in a terminal state)
                r = (await http.post(endpoint, json=rpc("message/send", follow))).json()
                assert r["error"]["code"] == UNSUPPORTED, r


async def test_the_first_stream_goes_on_to_the_tasks_end_and_another_process_refuses_a_follow_up(tmp_path: Path) -> None:
    """The stream of the message that started the task stays open while a follow-up's turn goes on
    with the task, and closes with its end (A2A: it closes when the task ends); a non-blocking
    follow-up is answered at once; a replica where the task does not run refuses the follow-up
    (A2A's UnsupportedOperationError) instead of running a second turn of it there."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'magec.db'}"
    with FakeServer(OpenAIFake("slow")) as llm:
        llm.script(Reply(text="first answer", delay=1.5), Reply(text="second answer"))
        async with _replica(tmp_path / "a", db_url) as (apps, url), _replica(tmp_path / "b", db_url) as (_, other):
            aid = await make_agent(apps, llm)
            endpoint = f"{url}/api/v1/a2a/{aid}"
            async with httpx.AsyncClient(timeout=30) as http:
                events: list[dict[str, Any]] = []
                started = asyncio.Event()

                async def first() -> None:
                    async with http.stream("POST", endpoint, json=rpc("message/stream", message("one"))) as r:
                        async for line in r.aiter_lines():
                            if line.startswith("data:"):
                                events.append(json.loads(line[5:])["result"])
                                started.set()

                streaming = asyncio.create_task(first())
                await asyncio.wait_for(started.wait(), 20)
                task_id, context_id = events[0]["id"], events[0]["contextId"]
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 20
                while not llm.calls():
                    assert loop.time() < deadline, "the first turn never reached its provider"
                    await asyncio.sleep(0.02)
                follow = message("two", context_id=context_id)
                follow["message"]["taskId"] = task_id
                refused = (await http.post(f"{other}/api/v1/a2a/{aid}", json=rpc("message/send", follow))).json()
                assert refused["error"]["code"] == UNSUPPORTED, refused
                assert "another magec process" in refused["error"]["message"]
                params = {**follow, "configuration": {"blocking": False}}
                queued = (await http.post(endpoint, json=rpc("message/send", params))).json()["result"]
                assert queued["status"]["state"] == "working" and not streaming.done(), queued
                await asyncio.wait_for(streaming, 20)
                got = (await http.post(endpoint, json=rpc("tasks/get", {"id": task_id}))).json()["result"]

    states = [e["status"]["state"] for e in events if "status" in e]
    assert _in_order([s for i, s in enumerate(states) if not i or states[i - 1] != s]), states
    assert states[-1] == "completed" and states.count("completed") == 1, states
    answers = [e["artifact"] for e in events if e.get("kind") == "artifact-update"]
    assert "second answer" in _texts(answers), events
    assert got["status"]["state"] == "completed"
    assert _texts(got["artifacts"]) == ["first answer", "second answer"]
    assert _texts(got["history"]) == ["one", "two"]


async def test_a_streamed_follow_up_begins_with_the_task_and_ends_with_it(magec: Served, llm: FakeServer) -> None:
    """``message/stream`` with a running task's ``taskId``: the stream begins with the task (A2A:
    a task's stream begins with the Task object), then its events to its end, both turns' answers."""
    llm.script(Reply(text="first answer", delay=1.5), Reply(text="second answer"))
    aid = await make_agent(magec.apps, llm)
    endpoint = f"{magec.url}/api/v1/a2a/{aid}"
    async with httpx.AsyncClient(timeout=30) as http:
        params = {**message("one"), "configuration": {"blocking": False}}
        first = (await http.post(endpoint, json=rpc("message/send", params))).json()["result"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not llm.calls():
            assert loop.time() < deadline, "the first turn never reached its provider"
            await asyncio.sleep(0.02)
        follow = message("two", context_id=first["contextId"])
        follow["message"]["taskId"] = first["id"]
        events = []
        async with http.stream("POST", endpoint, json=rpc("message/stream", follow)) as r:
            async for line in r.aiter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:])["result"])
    assert events[0]["kind"] == "task" and events[0]["id"] == first["id"], events[0]
    assert events[0]["status"]["state"] == "working"
    states = [e["status"]["state"] for e in events[1:] if "status" in e]
    assert states and states[-1] == "completed" and "canceled" not in states, states
    answers = _texts([e["artifact"] for e in events if e.get("kind") == "artifact-update"])
    assert {"first answer", "second answer"} <= set(answers), answers
