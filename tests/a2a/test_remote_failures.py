"""A remote A2A agent that fails is a failed turn for the client — with an error code, and without
the remote's address.

ADK's ``RemoteA2aAgent`` reports a failure (an unreachable peer, a card it cannot read, a broken
answer) as an event with an error *message* and no error code. magec's clients tell failures by
their code, so such a turn was answered as a success with no text — ``200`` and an empty message on
``/v1/chat/completions``, an empty answer to a webhook — and the message, which names the
admin-configured URL of the peer (``Failed to resolve AgentCard from URL http://10.0.0.7:8080/…``),
went to the client as it was.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import StreamingResponse

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer
from tests.a2a.conftest import A, make_agent

U = "/api/v1/agent"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_remote_agent_fails_the_turn_without_naming_its_address(
    tmp_path: Any, llm: FakeServer
) -> None:
    port = _closed_port()
    async with running_apps(tmp_path / "d") as apps:
        local = await make_agent(apps, llm, name="Local", a2a=False)
        r = await apps.admin.post(f"{A}/agents", json={
            "name": "Far", "a2a": {"remote": {"url": f"http://127.0.0.1:{port}/api/v1/a2a/peer-canary"}}})
        far = r.json()["id"]
        r = await apps.admin.post(f"{A}/flows", json={"name": "Both", "root": {"type": "sequential", "steps": [
            {"type": "agent", "agentId": local}, {"type": "agent", "agentId": far}]}})
        flow = r.json()["id"]
        token = (await apps.admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": [far, flow]})).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}

        r = await apps.user.post("/v1/chat/completions", headers=headers,
                                 json={"model": "Far", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 502, r.text
        assert r.json()["error"]["code"] == "backend_error"
        for leak in (str(port), "127.0.0.1", "peer-canary"):
            assert leak not in r.text, r.text

        for app in (far, flow):
            r = await apps.user.post(f"{U}/run", headers=headers, json={
                "appName": app, "userId": "u", "sessionId": "s", "newMessage": {"parts": [{"text": "hi"}]}})
            assert r.status_code == 200, r.text
            failed = [e for e in r.json() if e.get("errorMessage")]
            assert [e.get("errorCode") for e in failed] == ["backend_error"], r.text
            assert "remote A2A agent" in failed[0]["errorMessage"]
            for leak in (str(port), "127.0.0.1", "peer-canary"):
                assert leak not in r.text, r.text


#: what the hostile peer would send, in pieces of CHUNK: three times what magec reads of one answer
CHUNK = 1024 * 1024
TOTAL = 96 * CHUNK


async def test_a_remote_agent_cannot_make_magec_read_an_answer_of_any_size(tmp_path: Any) -> None:
    """Whatever answers at a remote agent's URL chooses how much it sends. The backends' answers
    are capped (``maxResponseBytes``), but the A2A client read a card, a reply or a stream whole,
    into memory: a peer sending without end took the server's memory with it. Now the answer is
    cut at 32 MiB and the turn fails as any broken remote does."""
    sent = [0]
    peer = FastAPI()

    @peer.get("/{rest:path}")
    @peer.post("/{rest:path}")
    async def endless(rest: str, request: Request) -> StreamingResponse:  # noqa: ARG001 - every path: the card first
        async def body() -> AsyncIterator[bytes]:
            yield b'{"name": "'
            for _ in range(TOTAL // CHUNK):
                if await request.is_disconnected():  # magec hung up (what follows would go nowhere)
                    return
                yield b"A" * CHUNK
                sent[0] += CHUNK
            yield b'"}'

        return StreamingResponse(body(), media_type="application/json")  # chunked: no length to refuse early

    with FakeServer(peer) as srv:
        async with running_apps(tmp_path / "d") as apps:
            r = await apps.admin.post(f"{A}/agents", json={
                "name": "Far", "a2a": {"remote": {"url": f"{srv.url}/api/v1/a2a/peer"}}})
            far = r.json()["id"]
            token = (await apps.admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": [far]})).json()["token"]
            r = await apps.user.post("/v1/chat/completions", headers={"Authorization": f"Bearer {token}"},
                                     json={"model": "Far", "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 502, r.text[:300]
            assert r.json()["error"]["code"] == "backend_error"
    # magec hung up once it had read its limit (what sat in the sockets' buffers aside)
    assert sent[0] < 48 * CHUNK, f"magec read {sent[0] // CHUNK} MiB of the peer's answer"
