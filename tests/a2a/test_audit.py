"""A2A turns in the conversation audit (issue #23.1): attributed to surface ``a2a`` and the client."""

from __future__ import annotations

from magec.testing.fake_providers import FakeServer
from tests.a2a.conftest import A, Served, ask, make_agent, remote_agent, texts


async def test_a2a_turns_are_in_the_conversation_audit(magec: Served, llm: FakeServer) -> None:
    apps = magec.apps
    aid = await make_agent(apps, llm)
    client = (await apps.admin.post(f"{A}/clients", json={"name": "Peer", "allowedAgents": [aid]})).json()
    agent, http = remote_agent(magec.url, aid, client["token"])
    async with http:
        assert texts(await ask(agent, "audited question")) == ["fake-llm says: audited question"]
    stats = (await apps.admin.get(f"{A}/conversations/stats")).json()
    assert stats["bySurfaces"] == {"a2a": 1}, stats
    convs = (await apps.admin.get(f"{A}/conversations", params={"clientId": client["id"]})).json()
    assert convs["items"] and {c["agentId"] for c in convs["items"]} == {aid}
    assert {c["clientId"] for c in convs["items"]} == {client["id"]}
