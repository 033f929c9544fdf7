"""Magec agents served over A2A, called by ADK's RemoteA2aAgent (a2a-sdk client) over loopback."""

from __future__ import annotations

import json
from typing import Any

import httpx

from magec.testing.fake_providers import FakeServer, Reply
from tests.a2a.conftest import (
    A,
    Asker,
    Served,
    ask,
    chat_requests,
    make_agent,
    message,
    remote_agent,
    rpc,
    served_magec,
    texts,
)

CARD = "/api/v1/a2a/{}/.well-known/agent-card.json"


async def test_remote_a2a_agent_gets_the_answer_and_continues_the_session(magec: Served, llm: FakeServer) -> None:
    aid = await make_agent(magec.apps, llm)
    agent, http = remote_agent(magec.url, aid)
    async with http:
        asker = Asker(agent)
        events = await asker.ask("hello there")
        assert texts(events) == ["fake-llm says: hello there"]
        # the A2A contextId is a magec session: the second message carries the first turn as history
        events = await asker.ask("and again")
    assert texts(events) == ["fake-llm says: and again"]
    sent = chat_requests(llm)[-1].json
    assert [m["content"] for m in sent["messages"] if m["role"] != "system"] == [
        "hello there", "fake-llm says: hello there", "and again"]


async def test_streaming_message_stream(magec: Served, llm: FakeServer) -> None:
    aid = await make_agent(magec.apps, llm)
    llm.script(Reply(text="one two three", chunks=["one ", "two ", "three"]))
    events: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http, http.stream(
            "POST", f"/api/v1/a2a/{aid}", json=rpc("message/stream", message("count"))) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:])["result"])
    kinds = [e.get("kind") for e in events]
    assert kinds[0] == "task" and events[0]["status"]["state"] == "submitted"
    chunks = [e["artifact"]["parts"][0]["text"] for e in events if e.get("kind") == "artifact-update"
              and not e.get("lastChunk")]
    assert "".join(chunks) == "one two three" and len(chunks) >= 2  # token deltas, as they came
    final_artifact = [e for e in events if e.get("kind") == "artifact-update" and e.get("lastChunk")][-1]
    assert final_artifact["artifact"]["parts"][0]["text"] == "one two three"
    assert events[-1]["kind"] == "status-update" and events[-1]["status"]["state"] == "completed"
    # the model was asked to stream
    assert chat_requests(llm)[-1].json.get("stream") is True


async def test_a_long_streamed_answer_is_kept_in_a_few_parts(magec: Served, llm: FakeServer) -> None:
    """The task of a stream keeps its text in parts of a few thousand characters, not one per token:
    a2a-sdk copies the task for every token it relays, so a part per token made a long answer's
    cost grow with its square. The stream itself still carries each token."""
    aid = await make_agent(magec.apps, llm)
    chunks = [f"w{i} " for i in range(3000)]
    text = "".join(chunks)
    # (its role event first) then hangs, still running while the client reads 3,000 events (slowly
    # on a busy machine) and asks for the task; the cancel below ends it
    llm.script(Reply(text=text, chunks=chunks, hang_after=len(chunks) + 1, hang_for=300))
    received: list[str] = []
    task_id = ""
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
        async with http.stream("POST", f"/api/v1/a2a/{aid}", json=rpc("message/stream", message("long"))) as r:
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])["result"]
                task_id = task_id or event.get("taskId") or event.get("id", "")
                if event.get("kind") == "artifact-update":
                    received.append(event["artifact"]["parts"][0]["text"])
                if len(received) == len(chunks):
                    break
        assert received == chunks
        got = (await http.post(f"/api/v1/a2a/{aid}", json=rpc("tasks/get", {"id": task_id}))).json()["result"]
        assert got["status"]["state"] == "working"
        parts = got["artifacts"][0]["parts"]
        assert "".join(p["text"] for p in parts) == text
        assert len(parts) <= len(text) // 4096 + 1, len(parts)
        r2 = await http.post(f"/api/v1/a2a/{aid}", json=rpc("tasks/cancel", {"id": task_id}))
        assert r2.json()["result"]["status"]["state"] == "canceled", r2.text


async def test_a_silent_stream_pings_at_the_configured_interval(tmp_path: Any, llm: FakeServer) -> None:
    """``server.streamPing`` applies to A2A streams too: while the model thinks (2.5 s) a stream
    served with a 1 s interval carries keep-alive comments between its events."""
    async with served_magec(tmp_path / "data", stream_ping=1) as served:
        aid = await make_agent(served.apps, llm)
        llm.script(Reply(text="after a while", delay=2.5))
        lines: list[str] = []
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as http, http.stream(
                "POST", f"/api/v1/a2a/{aid}", json=rpc("message/stream", message("think"))) as r:
            assert r.status_code == 200
            lines = [line async for line in r.aiter_lines() if line]
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data: "))
    answer = next(i for i, line in enumerate(lines) if "after a while" in line)
    assert any(line.startswith(":") for line in lines[first_data:answer]), lines
    assert json.loads(lines[-1][6:])["result"]["status"]["state"] == "completed"


async def test_streaming_through_remote_a2a_agent(magec: Served, llm: FakeServer) -> None:
    aid = await make_agent(magec.apps, llm)
    llm.script(Reply(text="streamed answer", chunks=["streamed ", "answer"]))
    agent, http = remote_agent(magec.url, aid, streaming=True)
    async with http:
        events = await ask(agent, "stream please")
    assert texts(events)[-1] == "streamed answer"


async def test_send_get_and_card(magec: Served, llm: FakeServer) -> None:
    aid = await make_agent(magec.apps, llm)
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
        card = (await http.get(CARD.format(aid))).json()
        assert card["name"] == "Helper" and card["description"] == "Helper answers questions"
        assert card["url"] == f"{magec.url}/api/v1/a2a/{aid}"  # no publicURL: the request's base URL
        assert card["capabilities"]["streaming"] is True
        assert card["skills"][0]["id"] == aid
        assert card["securitySchemes"]["bearer"]["scheme"] == "bearer" and card["security"] == [{"bearer": []}]
        assert card["preferredTransport"] == "JSONRPC"
        r = await http.post(f"/api/v1/a2a/{aid}", json=rpc("message/send", message("hi")))
        task = r.json()["result"]
        assert task["kind"] == "task" and task["status"]["state"] == "completed"
        assert task["artifacts"][0]["parts"][0]["text"] == "fake-llm says: hi"
        got = (await http.post(f"/api/v1/a2a/{aid}", json=rpc("tasks/get", {"id": task["id"]}))).json()
        assert got["result"]["id"] == task["id"] and got["result"]["status"]["state"] == "completed"
        # the conversation is a magec session of user "a2a" (open mode: no client namespace)
        r = await http.get(f"/api/v1/agent/apps/{aid}/users/a2a/sessions/{task['contextId']}")
        assert r.status_code == 200, r.text
        assert [e["content"]["parts"][0]["text"] for e in r.json()["events"]] == ["hi", "fake-llm says: hi"]
        # discovery lists every A2A-enabled app (and only those)
        other = await make_agent(magec.apps, llm, name="Quiet", a2a=False)
        listed = (await http.get("/api/v1/a2a/.well-known/agent-card.json")).json()
        assert [c["url"].rsplit("/", 1)[1] for c in listed] == [aid]
        assert (await http.get(f"/api/v1/a2a/.well-known/agent-card.json?agent={aid}")).json()["name"] == "Helper"
        assert (await http.get(CARD.format(other))).status_code == 404


async def test_card_url_uses_public_url(tmp_path: Any, llm: FakeServer) -> None:
    async with served_magec(tmp_path / "d", public_url="https://magec.example.com/") as m:
        aid = await make_agent(m.apps, llm)
        async with httpx.AsyncClient(base_url=m.url) as http:
            card = (await http.get(CARD.format(aid))).json()
    assert card["url"] == f"https://magec.example.com/api/v1/a2a/{aid}"
    assert {i["url"] for i in card["supportedInterfaces"]} == {card["url"]}


async def test_auth_allowed_agents_and_live_toggle(magec: Served, llm: FakeServer) -> None:
    apps = magec.apps
    aid = await make_agent(apps, llm, name="Allowed")
    other = await make_agent(apps, llm, name="Other")
    client = (await apps.admin.post(f"{A}/clients", json={"name": "Peer", "allowedAgents": [aid]})).json()
    token = client["token"]
    # no token / wrong token: refused (HTTP 401 before a2a-sdk sees the body)
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
        assert (await http.post(f"/api/v1/a2a/{aid}", json=rpc("message/send", message("x")))).status_code == 401
        r = await http.post(f"/api/v1/a2a/{aid}", json=rpc("message/send", message("x")),
                            headers={"Authorization": "Bearer mgc_wrong"})
        assert r.status_code == 401
        # allowed client, but an agent outside allowedAgents: 403
        good = {"Authorization": f"Bearer {token}"}
        r = await http.post(f"/api/v1/a2a/{other}", json=rpc("message/send", message("x")), headers=good)
        assert r.status_code == 403
    assert not chat_requests(llm)
    # RemoteA2aAgent with the wrong token gets no answer; with the right one it does
    agent, http = remote_agent(magec.url, aid, "mgc_wrong")
    async with http:
        refused = await ask(agent, "x")
    assert not any("fake-llm" in t for t in texts(refused))
    assert any("401" in (ev.error_message or "") or "401" in " ".join(texts([ev])) for ev in refused), refused
    assert not chat_requests(llm)
    agent, http = remote_agent(magec.url, aid, token)
    async with http:
        assert texts(await ask(agent, "let me in")) == ["fake-llm says: let me in"]
    # the session belongs to the client: stored as "<clientId>:a2a", visible to it as user "a2a"
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
        r = await http.get(f"/api/v1/agent/apps/{aid}/users/a2a/sessions", headers=good)
        assert r.status_code == 200 and len(r.json()) == 1
        # toggling a2a.enabled off is visible on the next request: card and endpoint 404
        agent_row = (await apps.admin.get(f"{A}/agents/{aid}")).json()
        r = await apps.admin.put(f"{A}/agents/{aid}", json={**agent_row, "a2a": {"enabled": False}})
        assert r.status_code == 200, r.text
        assert (await http.get(CARD.format(aid))).status_code == 404
        r = await http.post(f"/api/v1/a2a/{aid}", json=rpc("message/send", message("x")), headers=good)
        assert r.status_code == 404
        assert (await http.get("/api/v1/a2a/.well-known/agent-card.json")).json() == [
            c for c in (await http.get("/api/v1/a2a/.well-known/agent-card.json")).json() if aid not in c["url"]]
        r = await apps.admin.put(f"{A}/agents/{aid}", json={**agent_row, "a2a": {"enabled": True}})
        assert (await http.get(CARD.format(aid))).status_code == 200


async def test_unknown_agent_is_404(magec: Served) -> None:
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
        assert (await http.get(CARD.format("nope"))).status_code == 404
        assert (await http.post("/api/v1/a2a/nope", json=rpc("message/send", message("x")))).status_code == 404


async def test_flow_served_over_a2a_answers_with_its_response_agent(magec: Served, llm: FakeServer) -> None:
    apps = magec.apps
    first = await make_agent(apps, llm, name="Drafter", a2a=False)
    second = await make_agent(apps, llm, name="Editor", a2a=False)
    r = await apps.admin.post(f"{A}/flows", json={"name": "Pipeline", "description": "draft then edit",
                                                  "a2a": {"enabled": True}, "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": first}, {"type": "agent", "agentId": second, "responseAgent": True}]}})
    assert r.status_code in (200, 201), r.text
    fid = r.json()["id"]
    llm.script("a draft", "the edited text")
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
        card = (await http.get(CARD.format(fid))).json()
        assert card["name"] == "Pipeline"
        assert {s["id"] for s in card["skills"]} == {fid, first, second}
    agent, http = remote_agent(magec.url, fid)
    async with http:
        events = await ask(agent, "write something")
    assert texts(events) == ["the edited text"]  # the drafter's step is not shown, as on every surface


async def test_cancel_and_task_ownership(magec: Served, llm: FakeServer) -> None:
    apps = magec.apps
    aid = await make_agent(apps, llm)
    one = (await apps.admin.post(f"{A}/clients", json={"name": "One", "allowedAgents": [aid]})).json()
    two = (await apps.admin.post(f"{A}/clients", json={"name": "Two", "allowedAgents": [aid]})).json()
    h1 = {"Authorization": f"Bearer {one['token']}"}
    h2 = {"Authorization": f"Bearer {two['token']}"}
    llm.script(Reply(text="too late", delay=20))
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
        params = {**message("slow"), "configuration": {"blocking": False}}
        task = (await http.post(f"/api/v1/a2a/{aid}", json=rpc("message/send", params), headers=h1)).json()["result"]
        assert task["status"]["state"] in ("submitted", "working")
        # another client cannot see or cancel it
        other = (await http.post(f"/api/v1/a2a/{aid}", json=rpc("tasks/get", {"id": task["id"]}), headers=h2)).json()
        assert "error" in other and other["error"]["code"] == -32001  # TaskNotFound
        r = await http.post(f"/api/v1/a2a/{aid}", json=rpc("tasks/cancel", {"id": task["id"]}), headers=h2)
        assert r.json()["error"]["code"] == -32001
        r = await http.post(f"/api/v1/a2a/{aid}", json=rpc("tasks/cancel", {"id": task["id"]}), headers=h1)
        assert r.json().get("result", {}).get("status", {}).get("state") == "canceled", r.text
        got = (await http.post(f"/api/v1/a2a/{aid}", json=rpc("tasks/get", {"id": task["id"]}), headers=h1)).json()
        assert got["result"]["status"]["state"] == "canceled"


async def test_tool_calls_stay_inside(magec: Served, llm: FakeServer) -> None:
    apps = magec.apps
    worker = await make_agent(apps, llm, name="Worker", a2a=False)
    r = await apps.admin.post(f"{A}/flows", json={"name": "Tools", "a2a": {"enabled": True}, "root": {
        "type": "sequential", "steps": [{"type": "agent", "agentId": worker, "responseAgent": True}]}})
    fid = r.json()["id"]
    text = 'call set_state {"key": "secret_note", "value": "internal"}'
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
        r = await http.post(f"/api/v1/a2a/{fid}", json=rpc("message/send", message(text)))
    task = r.json()["result"]
    assert task["status"]["state"] == "completed", task
    # the model did call the tool (a second chat request carries its result) ...
    assert len(chat_requests(llm)) == 2 and any(m["role"] == "tool" for m in chat_requests(llm)[-1].json["messages"])
    # ... but the peer gets the answer's text only: no function call / response parts, no state delta
    parts = [p for a in task["artifacts"] for p in a["parts"]]
    assert parts and all(set(p) <= {"kind", "text", "metadata"} for p in parts), parts
    assert [p["text"] for p in parts] == [chat_text(llm)]  # the final answer, nothing else
    assert all(not a.get("metadata", {}).get("adk_actions", {}).get("stateDelta") for a in task["artifacts"])


def chat_text(llm: FakeServer) -> str:
    """The fake's answer to its last chat request (it echoes the tool result it was given)."""
    last = chat_requests(llm)[-1].json["messages"][-1]
    return f"fake-llm says: tool result {last['content']}"


async def test_hostile_json_rpc_never_5xx(magec: Served, llm: FakeServer) -> None:
    aid = await make_agent(magec.apps, llm)
    url = f"/api/v1/a2a/{aid}"
    long_context = {"message": {"role": "user", "messageId": "m1", "contextId": "c" * 300,
                                "parts": [{"kind": "text", "text": "x"}]}}
    bodies: list[Any] = [
        [], {}, {"method": "nope"}, rpc("message/send", {}), rpc("message/stream", {}),
        rpc("message/send", {"message": {"role": "user", "messageId": "m", "parts": []}}),
        rpc("tasks/get", {"id": "no-such-task"}), rpc("tasks/cancel", {}),
        rpc("message/send", {"message": "text"}), rpc("message/send", long_context),
    ]
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
        r = await http.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code < 500 and "error" in r.json(), r.text
        for body in bodies:
            r = await http.post(url, json=body)
            assert r.status_code < 500, (body, r.text)
            answer = r.text if r.headers["content-type"].startswith("text/event-stream") else r.json()
            assert "error" in str(answer) or "failed" in str(answer), (body, answer)
    assert not chat_requests(llm)  # none of them reached the model


async def test_failed_turn_fails_the_task_with_magecs_error_code(magec: Served, llm: FakeServer) -> None:
    aid = await make_agent(magec.apps, llm)
    llm.script(*[Reply.fail(400, "the provider refused this request") for _ in range(5)])
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
        task = (await http.post(f"/api/v1/a2a/{aid}", json=rpc("message/send", message("boom")))).json()["result"]
    assert task["status"]["state"] == "failed", task
    status = task["status"]["message"]
    assert status["metadata"]["errorCode"] not in ("", None, "internal_error"), status
    assert "refused" in status["parts"][0]["text"]
    assert not task.get("artifacts")


async def test_tasks_kept_in_memory_are_bounded_in_bytes(tmp_path: Any, llm: FakeServer) -> None:
    """Every task holds its messages in this process's memory: a client sending many large messages
    must not make it hold 10,000 of them. The tasks kept may take 32 × ``limits.bodyBytes``
    (here 64 KiB → 2 MiB); past that the oldest task is forgotten (TaskNotFound), the newest kept."""
    async with served_magec(tmp_path / "data", max_body_bytes=64 * 1024) as magec:
        aid = await make_agent(magec.apps, llm)
        url = f"/api/v1/a2a/{aid}"
        big = "x" * (60 * 1024)

        def send(i: int, text: str) -> dict[str, Any]:
            return rpc("message/send", {"message": {"role": "user", "messageId": f"m{i}",
                                                    "parts": [{"kind": "text", "text": text}]}})

        async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
            first = (await http.post(url, json=send(0, "first"))).json()["result"]["id"]
            got = (await http.post(url, json=rpc("tasks/get", {"id": first}))).json()
            assert got["result"]["id"] == first, got
            last = ""
            for i in range(1, 41):  # 40 × 60 KiB of messages: more than the 2 MiB budget
                r = await http.post(url, json=send(i, big))
                last = r.json()["result"]["id"]
            got = (await http.post(url, json=rpc("tasks/get", {"id": first}))).json()
            assert got.get("error", {}).get("code") == -32001, got  # TaskNotFound: forgotten
            got = (await http.post(url, json=rpc("tasks/get", {"id": last}))).json()
            assert got["result"]["id"] == last, got


async def test_a_client_flooding_the_task_store_forgets_its_own_tasks(tmp_path: Any, llm: FakeServer) -> None:
    """Clients are mutually untrusted: a client sending more than the byte budget of tasks (here
    64 KiB bodies → 2 MiB) makes the store forget *its* oldest tasks, not the task another client
    was answered and may still ask for."""
    async with served_magec(tmp_path / "data", max_body_bytes=64 * 1024) as magec:
        aid = await make_agent(magec.apps, llm)
        url = f"/api/v1/a2a/{aid}"
        heads = []
        for name in ("Quiet", "Flood"):
            c = (await magec.apps.admin.post(f"{A}/clients", json={"name": name, "allowedAgents": [aid]})).json()
            heads.append({"Authorization": f"Bearer {c['token']}"})
        quiet, flood = heads

        def send(i: int, text: str) -> dict[str, Any]:
            return rpc("message/send", {"message": {"role": "user", "messageId": f"m{i}",
                                                    "parts": [{"kind": "text", "text": text}]}})

        async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
            kept = (await http.post(url, json=send(0, "mine"), headers=quiet)).json()["result"]["id"]
            first = (await http.post(url, json=send(1, "x" * 60 * 1024), headers=flood)).json()["result"]["id"]
            for i in range(2, 42):  # 40 × 60 KiB: more than the 2 MiB budget
                r = await http.post(url, json=send(i, "x" * 60 * 1024), headers=flood)
                assert r.status_code == 200, r.text
            got = (await http.post(url, json=rpc("tasks/get", {"id": kept}), headers=quiet)).json()
            assert got.get("result", {}).get("id") == kept, got
            got = (await http.post(url, json=rpc("tasks/get", {"id": first}), headers=flood)).json()
            assert got.get("error", {}).get("code") == -32001, got  # the flooder's own, forgotten


async def test_history_length_out_of_range_is_invalid_params(magec: Served, llm: FakeServer) -> None:
    """A ``historyLength`` too large for the protocol's int32 is the client's mistake: invalid
    params (-32602) naming it, not an internal error (-32603, a traceback logged per request)."""
    aid = await make_agent(magec.apps, llm)
    url = f"/api/v1/a2a/{aid}"
    send = {**message("hi"), "configuration": {"historyLength": 2**31}}
    cases = [
        (rpc("tasks/get", {"id": "x", "historyLength": 2**31}), "params.historyLength"),
        (rpc("tasks/get", {"id": "x", "historyLength": 10**30}), "params.historyLength"),
        (rpc("message/send", send), "params.configuration.historyLength"),
        (rpc("message/stream", send, rid=7), "params.configuration.historyLength"),
    ]
    async with httpx.AsyncClient(base_url=magec.url, timeout=30) as http:
        for body, field in cases:
            r = await http.post(url, json=body)
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text
            error = r.json()["error"]
            assert error["code"] == -32602 and error["message"].startswith(field), (body, error)
            assert r.json()["id"] == body["id"]
        # in range it reaches a2a-sdk as before
        r = await http.post(url, json=rpc("tasks/get", {"id": "x", "historyLength": 2**31 - 1}))
        assert r.json()["error"]["code"] == -32001  # TaskNotFound
    assert not chat_requests(llm)
