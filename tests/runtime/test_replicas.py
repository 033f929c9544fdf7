"""Two real ``magec serve`` replicas on one PostgreSQL: a write answered by one is live on the other
for the very next request (the epoch is pushed with LISTEN/NOTIFY; nobody polls or waits here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from magec.testing.fake_providers import FakeServer, Reply
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
U = "/api/v1/agent"


@pytest.fixture
def replicas(tmp_path: Path, postgres: Any) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = postgres.url(postgres.create_database())
    with ServerProcess(tmp_path / "one", database_url=url) as one, \
            ServerProcess(tmp_path / "two", database_url=url) as two:
        yield one, two


def answer(client: httpx.Client, base: str, app: str, text: str, session: str = "shared") -> httpx.Response:
    return client.post(f"{base}{U}/run", json={"appName": app, "userId": "u", "sessionId": session,
                                               "newMessage": {"parts": [{"text": text}]}})


def final_text(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    return str(r.json()[-1]["content"]["parts"][0]["text"])


def test_write_on_one_replica_is_live_on_the_other_at_once(
    replicas: tuple[ServerProcess, ServerProcess], openai_x: FakeServer, openai_y: FakeServer
) -> None:
    one, two = replicas
    with httpx.Client(timeout=30) as c:
        bx = c.post(f"{one.admin_url}{A}/backends", json={"name": "X", "type": "openai", "url": openai_x.url,
                                                          "apiKey": "sk-x-key-1234"}).json()
        by = c.post(f"{one.admin_url}{A}/backends", json={"name": "Y", "type": "openai", "url": openai_y.url}).json()
        agent = c.post(f"{one.admin_url}{A}/agents",
                       json={"name": "A", "llm": {"backend": bx["id"], "model": "m"}}).json()
        # created on one, used on two right after
        assert final_text(answer(c, two.user_url, agent["id"], "hi")) == "openai-x says: hi"
        for i in range(10):
            target, name = (by, "openai-y") if i % 2 == 0 else (bx, "openai-x")
            # alternate which replica takes the write
            writer, reader = (one, two) if i % 3 else (two, one)
            r = c.put(f"{writer.admin_url}{A}/agents/{agent['id']}",
                      json={**agent, "llm": {"backend": target["id"], "model": "m"}})
            assert r.status_code == 200, r.text
            assert final_text(answer(c, reader.user_url, agent["id"], f"t{i}")) == f"{name} says: t{i}"
        # a new agent written on two is listed and runnable on one at once
        fresh = c.post(f"{two.admin_url}{A}/agents",
                       json={"name": "B", "llm": {"backend": by["id"], "model": "m"}}).json()
        assert fresh["id"] in [a["id"] for a in c.get(f"{one.user_url}{U}/list-apps?detailed=true").json()]
        assert final_text(answer(c, one.user_url, fresh["id"], "new", "s-b")) == "openai-y says: new"
        # force-deleting the backend on one: the agent is down on two for the very next turn
        assert c.delete(f"{one.admin_url}{A}/backends/{by['id']}?force=true").status_code == 204
        r = answer(c, two.user_url, fresh["id"], "gone", "s-b")
        assert r.status_code == 503 and "backend" in r.json()["error"]
        # sessions are shared through the database too
        history = c.get(f"{one.user_url}{U}/apps/{agent['id']}/users/u/sessions/shared").json()
        assert len(history["events"]) == 22


def test_a_relayed_answer_is_never_sent_twice_when_another_replica_wrote_the_session(
    replicas: tuple[ServerProcess, ServerProcess], openai_x: FakeServer
) -> None:
    """Replica one streams an answer on a session; meanwhile replica two answers a turn on the same
    session, so one's save of its final answer finds the session changed. The tokens already went
    out: the turn is not started again (no second provider call, no answer twice on the stream)."""
    import json

    one, two = replicas
    with httpx.Client(timeout=30) as c:
        bx = c.post(f"{one.admin_url}{A}/backends", json={"name": "X", "type": "openai", "url": openai_x.url,
                                                          "apiKey": "sk-x-key-1234"}).json()
        agent = c.post(f"{one.admin_url}{A}/agents", json={"name": "A", "llm": {"backend": bx["id"], "model": "m"}}).json()
        assert final_text(answer(c, two.user_url, agent["id"], "warm up", session="race")) == "openai-x says: warm up"
        openai_x.clear()
        openai_x.script(Reply(chunks=["one ", "two ", "three ", "four"], chunk_delay=0.5), Reply(text="quick"),
                        route="chat")
        body = {"appName": agent["id"], "userId": "u", "sessionId": "race", "streaming": True,
                "newMessage": {"parts": [{"text": "long answer please"}]}}
        partials: list[str] = []
        events: list[dict[str, Any]] = []
        with c.stream("POST", f"{one.user_url}{U}/run_sse", json=body) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                events.append(event)
                if event.get("partial"):
                    partials.append(event["content"]["parts"][0]["text"])
                    if len(partials) == 1:  # mid-stream, another replica answers on the same session
                        assert final_text(answer(c, two.user_url, agent["id"], "meanwhile", session="race")) == "quick"
        assert "".join(partials) == "one two three four", partials  # once, never again
        assert len(openai_x.calls()) == 2  # one streamed call and the other replica's: no re-run
        # the client is told the answer was not stored, in the error vocabulary
        assert events[-1]["errorCode"] == "conflict" and "not stored" in events[-1]["errorMessage"], events[-1]
