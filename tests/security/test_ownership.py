"""Hostile: conversations belong to the client (and user id) that created them.

Two real clients T1 and T2 (created through the Admin API, tokens sent as Bearer) share an agent.
T2 tries every route on T1's sessions — list, read, write (run, run_sse, /v1 with X-Session-Id,
create-by-id), delete — on SQLite, PostgreSQL and Redis session storage; client-written state tries
to reach ``{{agent.output:KEY}}`` and a flow's own keys. Everything goes over HTTP, as a client would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake

A = "/api/v1/admin"
U = "/api/v1/agent"
PG = f"{A}/agent"  # the admin playground: same routes, admin auth


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("llm")) as s:
        yield s


@pytest.fixture(autouse=True)
def _clear(llm: FakeServer) -> None:
    llm.clear()


async def new_agent(apps: Apps, llm: FakeServer, name: str = "Helper", **extra: Any) -> str:
    b = (await apps.admin.post(f"{A}/backends", json={"name": f"{name}-b", "type": "openai", "url": llm.url,
                                                       "apiKey": "sk-test"})).json()
    r = await apps.admin.post(f"{A}/agents", json={"name": name, "llm": {"backend": b["id"], "model": "m"}, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def new_client(apps: Apps, name: str, allowed: list[str]) -> tuple[str, dict[str, str]]:
    r = await apps.admin.post(f"{A}/clients", json={"name": name, "allowedAgents": allowed})
    assert r.status_code == 201, r.text
    return str(r.json()["id"]), {"Authorization": f"Bearer {r.json()['token']}"}


def run_body(app: str, user: str, sid: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"appName": app, "userId": user, "sessionId": sid,
            "newMessage": {"role": "user", "parts": [{"text": text}]}, **extra}


def sent_to_llm(llm: FakeServer) -> str:
    """Everything the model was sent in the last call (system prompt and history)."""
    return json.dumps(llm.requests[-1].json)


def session_texts(session: dict[str, Any]) -> str:
    return json.dumps([e.get("content") for e in session["events"]])


async def sse_events(apps: Apps, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
    events = []
    async with apps.user.stream("POST", f"{U}/run_sse", json=body, headers=headers) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
        return r.status_code, events


async def chat(apps: Apps, model: str, text: str, headers: dict[str, str], **extra: Any) -> Any:
    return await apps.user.post("/v1/chat/completions", headers=headers,
                                json={"model": model, "messages": [{"role": "user", "content": text}], **extra})


async def test_another_client_cannot_list_read_write_or_delete(session_apps: Apps, llm: FakeServer) -> None:
    apps = session_apps
    aid = await new_agent(apps, llm)
    t1_id, t1 = await new_client(apps, "T1", [aid])
    t2_id, t2 = await new_client(apps, "T2", [aid])
    sessions = f"{U}/apps/{aid}/users/alice/sessions"

    # T1 holds a conversation with state and history
    r = await apps.user.post(f"{sessions}/s1", json={"state": {"client:note": "t1-note"}}, headers=t1)
    assert r.status_code == 200 and r.json()["userId"] == "alice"  # the caller sees its own user id
    r = await apps.user.post(f"{U}/run", json=run_body(aid, "alice", "s1", "t1 private words"), headers=t1)
    assert r.status_code == 200, r.text
    t1_before = (await apps.user.get(f"{sessions}/s1", headers=t1)).json()
    assert "t1 private words" in session_texts(t1_before) and len(t1_before["events"]) == 2

    # list: T2 asserting the same user id (or T1's stored form of it) sees none of T1's sessions
    forged = quote(f"{t1_id}:alice", safe="")
    for user in ("alice", forged):
        r = await apps.user.get(f"{U}/apps/{aid}/users/{user}/sessions", headers=t2)
        assert r.status_code == 200 and r.json() == [], r.text
    # read and delete: not found, exactly like a session that never existed
    for user in ("alice", forged):
        assert (await apps.user.get(f"{U}/apps/{aid}/users/{user}/sessions/s1", headers=t2)).status_code == 404
        assert (await apps.user.delete(f"{U}/apps/{aid}/users/{user}/sessions/s1", headers=t2)).status_code == 404
    assert (await apps.user.get(f"{sessions}/never", headers=t2)).status_code == 404
    assert (await apps.user.delete(f"{sessions}/never", headers=t2)).status_code == 404

    # write: a run naming T1's session id runs in T2's own, new conversation — T1's history never
    # reaches the model, nothing is appended to T1's session
    r = await apps.user.post(f"{U}/run", json=run_body(aid, "alice", "s1", "t2 run"), headers=t2)
    assert r.status_code == 200, r.text
    assert "t1 private words" not in sent_to_llm(llm) and "t2 run" in sent_to_llm(llm)
    status, events = await sse_events(apps, run_body(aid, "alice", "s1", "t2 sse", streaming=True), t2)
    assert status == 200 and events
    assert "t1 private words" not in sent_to_llm(llm) and "t2 run" in sent_to_llm(llm)
    r = await apps.user.post(f"{U}/run", json=run_body(aid, f"{t1_id}:alice", "s1", "t2 forged"), headers=t2)
    assert r.status_code == 200 and "t1 private words" not in sent_to_llm(llm)
    # create-by-id returns T2's own session, never T1's state or events
    r = await apps.user.post(f"{sessions}/s1", json={}, headers=t2)
    assert r.status_code == 200 and "client:note" not in r.json()["state"]
    assert "t1 private words" not in session_texts(r.json()) and "t2 run" in session_texts(r.json())

    # T1's conversation is exactly as it was
    t1_after = (await apps.user.get(f"{sessions}/s1", headers=t1)).json()
    assert t1_after["events"] == t1_before["events"] and t1_after["state"] == t1_before["state"]
    assert [s["id"] for s in (await apps.user.get(sessions, headers=t1)).json()] == ["s1"]
    assert {s["userId"] for s in (await apps.user.get(sessions, headers=t1)).json()} == {"alice"}

    # /v1 without `user`: both clients are "openai", yet their X-Session-Id conversations are disjoint
    r = await chat(apps, aid, "t1 v1 words", {**t1, "X-Session-Id": "chat-1"})
    assert r.status_code == 200 and r.headers["x-session-id"] == "chat-1"
    r = await chat(apps, aid, "t2 v1 words", {**t2, "X-Session-Id": "chat-1"})
    assert r.status_code == 200 and "t1 v1 words" not in sent_to_llm(llm)
    r = await chat(apps, aid, "t1 again", {**t1, "X-Session-Id": "chat-1"})
    assert "t1 v1 words" in sent_to_llm(llm) and "t2 v1 words" not in sent_to_llm(llm)
    # ... and not reachable through the session routes either
    await chat(apps, aid, "t1 only", {**t1, "X-Session-Id": "chat-t1"})
    openai_sessions = f"{U}/apps/{aid}/users/openai/sessions"
    assert [s["id"] for s in (await apps.user.get(openai_sessions, headers=t2)).json()] == ["chat-1"]
    assert (await apps.user.get(f"{openai_sessions}/chat-t1", headers=t2)).status_code == 404
    assert (await apps.user.delete(f"{openai_sessions}/chat-t1", headers=t2)).status_code == 404
    t2_chat = (await apps.user.get(f"{openai_sessions}/chat-1", headers=t2)).json()
    assert "t1 v1 words" not in session_texts(t2_chat) and "t2 v1 words" in session_texts(t2_chat)
    r = await chat(apps, aid, "t2 as t1", {**t2, "X-Session-Id": "chat-t1"}, user=f"{t1_id}:openai")
    assert r.status_code == 200 and "t1 only" not in sent_to_llm(llm)

    # the admin sees every session of the app, by stored user id "<clientId>:<userId>"
    listed = (await apps.admin.get(f"{PG}/apps/{aid}/sessions")).json()
    owners = {(s["userId"], s["id"]) for s in listed}
    assert {(f"{t1_id}:alice", "s1"), (f"{t2_id}:alice", "s1"), (f"{t1_id}:openai", "chat-1"),
            (f"{t2_id}:openai", "chat-1"), (f"{t1_id}:openai", "chat-t1")} <= owners
    t1_stored = quote(f"{t1_id}:alice", safe="")
    r = await apps.admin.get(f"{PG}/apps/{aid}/users/{t1_stored}/sessions/s1")
    assert r.status_code == 200 and "t1 private words" in session_texts(r.json())
    assert r.json()["userId"] == f"{t1_id}:alice"
    assert [s["id"] for s in (await apps.admin.get(f"{PG}/apps/{aid}/users/{t1_stored}/sessions")).json()] == ["s1"]
    # the admin can continue and delete a client's conversation; the owner sees the result
    r = await apps.admin.post(f"{PG}/run", json=run_body(aid, f"{t1_id}:alice", "s1", "admin note"))
    assert r.status_code == 200 and "t1 private words" in sent_to_llm(llm)
    assert (await apps.admin.delete(f"{PG}/apps/{aid}/users/{t1_stored}/sessions/s1")).status_code == 204
    assert (await apps.user.get(f"{sessions}/s1", headers=t1)).status_code == 404
    # T2's own conversation with the same id survived T1's being deleted
    assert (await apps.user.get(f"{sessions}/s1", headers=t2)).status_code == 200


async def test_client_state_cannot_reach_instructions_or_flow_keys(sqlite_apps: Apps, llm: FakeServer) -> None:
    apps = sqlite_apps
    aid = await new_agent(apps, llm, systemPrompt="Known={{agent.output:secret}}.", outputKey="answer")
    loop_agent = await new_agent(apps, llm, name="Looper")
    fid = (await apps.admin.post(f"{A}/flows", json={"name": "Loop", "root": {
        "type": "loop", "maxIterations": 2, "exit": {"mode": "expression", "expression": "state.done == true"},
        "steps": [{"type": "agent", "agentId": loop_agent, "responseAgent": True}]}})).json()["id"]

    async def hostile(headers: dict[str, str]) -> None:
        sessions = f"{U}/apps/{aid}/users/u/sessions"
        # every key outside client: is refused with 400 naming it, in either spelling of the field
        for delta in ({"secret": "INJECTED"}, {"answer": "INJECTED"}, {"flow:done": True},
                      {"temp:magec_exit_loop:x": True}, {"app:secret": "INJECTED"}, {"user:secret": "INJECTED"},
                      {"client:": "x"}):
            key = next(iter(delta))
            for field in ("stateDelta", "state_delta"):
                r = await apps.user.post(f"{U}/run", headers=headers,
                                         json={**run_body(aid, "u", "s", "hi"), field: delta})
                assert r.status_code == 400 and r.json()["field"] == f"stateDelta.{key}", r.text
            r = await apps.user.post(f"{sessions}/s", json={"state": delta}, headers=headers)
            assert r.status_code == 400 and r.json()["field"] == f"state.{key}", r.text
            r = await apps.user.post(f"{U}/run", headers=headers,
                                     json={**run_body(fid, "u", "f", "hi"), "stateDelta": delta})
            assert r.status_code == 400, r.text
        assert llm.calls() == []  # nothing refused ever reached a model
        assert (await apps.user.get(f"{sessions}/s", headers=headers)).status_code == 404  # nor a session
        # client: keys are accepted, stored and read back, and never rendered into a prompt
        r = await apps.user.post(f"{sessions}/s", json={"state": {"client:secret": "INJECTED"}}, headers=headers)
        assert r.status_code == 200 and r.json()["state"]["client:secret"] == "INJECTED"
        r = await apps.user.post(f"{U}/run", headers=headers, json={
            **run_body(aid, "u", "s", "hi"), "stateDelta": {"client:secret": "INJECTED", "client:answer": 1}})
        assert r.status_code == 200, r.text
        system = llm.requests[-1].json["messages"][0]["content"]
        assert system.startswith("Known=.") and "INJECTED" not in sent_to_llm(llm)
        state = (await apps.user.get(f"{sessions}/s", headers=headers)).json()["state"]
        assert state["client:answer"] == 1 and state["answer"] == "llm says: hi"  # the agent's own output
        # a client: key named like the flow's condition does not end the loop: both iterations run
        llm.clear()
        r = await apps.user.post(f"{U}/run", headers=headers,
                                 json={**run_body(fid, "u", "f", "loop"), "stateDelta": {"client:done": True}})
        assert r.status_code == 200 and len(llm.calls()) == 2, r.text
        llm.clear()

    await hostile({})  # open mode (no client yet) is anyone on the network: same rule
    _, t1 = await new_client(apps, "T1", [aid, fid])
    await hostile(t1)

    # the admin playground is trusted with any key (e.g. to try an outputKey template)
    r = await apps.admin.post(f"{PG}/run", json={**run_body(aid, "u", "adm", "hi"), "stateDelta": {"secret": "ADMIN"}})
    assert r.status_code == 200 and llm.requests[-1].json["messages"][0]["content"].startswith("Known=ADMIN.")


async def test_user_ids_are_bounded_and_tokens_required(sqlite_apps: Apps, llm: FakeServer) -> None:
    apps = sqlite_apps
    aid = await new_agent(apps, llm)
    _, t1 = await new_client(apps, "T1", [aid])
    r = await apps.user.post(f"{U}/run", json=run_body(aid, "u" * 201, "s", "hi"), headers=t1)
    assert r.status_code == 400 and r.json()["field"] == "userId"
    r = await chat(apps, aid, "hi", {**t1, "X-Session-Id": "x"}, user="u" * 201)
    assert r.status_code == 400 and r.json()["error"]["param"] == "user"  # /v1: OpenAI's error object
    # once a client exists, anonymous callers reach no session at all
    for method, path in (("GET", f"{U}/apps/{aid}/users/u/sessions"), ("GET", f"{U}/apps/{aid}/users/u/sessions/s"),
                         ("DELETE", f"{U}/apps/{aid}/users/u/sessions/s"), ("POST", f"{U}/apps/{aid}/users/u/sessions")):
        assert (await apps.user.request(method, path)).status_code == 401
    assert (await apps.user.post(f"{U}/run", json=run_body(aid, "u", "s", "hi"))).status_code == 401
