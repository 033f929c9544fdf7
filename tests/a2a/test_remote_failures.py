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
from typing import Any

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
