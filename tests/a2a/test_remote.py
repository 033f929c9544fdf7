"""Remote A2A agents inside magec: an agent with ``a2a.remote`` (another magec instance on loopback,
reached with a client token) answers alone and as a step of a flow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.server import ServerProcess
from tests.a2a.conftest import A, ask, make_agent, remote_agent, served_magec
from tests.a2a.conftest import texts as a2a_texts

U = "/api/v1/agent"


@pytest.fixture(scope="module")
def peer_llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("peer-llm")) as s:
        yield s


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Another magec instance: a real ``magec serve`` (its own process, so its own loop-guard id)."""
    with ServerProcess(tmp_path_factory.mktemp("peer")) as p:
        yield p


def texts(events: list[dict[str, Any]]) -> list[str]:
    return ["".join(p.get("text", "") for p in e["content"]["parts"]) for e in events
            if e.get("content") and not e.get("partial") and e.get("author") != "user"]


async def test_remote_agent_alone_and_as_flow_step(
    tmp_path: Any, llm: FakeServer, peer_llm: FakeServer, peer: ServerProcess
) -> None:
    peer_llm.clear()
    async with httpx.AsyncClient(base_url=peer.admin_url, timeout=30) as padmin:
        b = (await padmin.post(f"{A}/backends", json={"name": "P", "type": "openai", "url": peer_llm.url})).json()
        r = await padmin.post(f"{A}/agents", json={"name": "Expert", "llm": {"backend": b["id"], "model": "m"},
                                                   "a2a": {"enabled": True}})
        expert = r.json()["id"]
        client = (await padmin.post(f"{A}/clients", json={"name": "Home", "allowedAgents": [expert]})).json()
    async with served_magec(tmp_path / "home") as home:
        r = await home.apps.admin.post(f"{A}/agents", json={
            "name": "Proxy", "description": "the expert, remotely",
            "a2a": {"remote": {"url": f"{peer.user_url}/api/v1/a2a/{expert}", "token": client["token"]}}})
        assert r.status_code in (200, 201), r.text
        proxy = r.json()["id"]
        assert client["token"] not in r.text  # write-only, as every sensitive field
        assert client["token"] not in (await home.apps.admin.get(f"{A}/agents/{proxy}")).text

        # alone: the remote agent answers a turn of the run API
        r = await home.apps.user.post(f"{U}/run", json={"appName": proxy, "userId": "u", "sessionId": "s1",
                                                        "newMessage": {"parts": [{"text": "what is A2A?"}]}})
        assert r.status_code == 200, r.text
        assert texts(r.json()) == ["peer-llm says: what is A2A?"]
        # the loop guard travels with the call: home's id, then the peer's own
        assert len(peer_llm.requests[-1].headers["x-magec-hop"].split(",")) == 2

        # in a flow: a local step, then the remote one answers
        intro = await make_agent(home.apps, llm, name="Intro", a2a=False)
        r = await home.apps.admin.post(f"{A}/flows", json={"name": "Desk", "root": {"type": "sequential", "steps": [
            {"type": "agent", "agentId": intro}, {"type": "agent", "agentId": proxy, "responseAgent": True}]}})
        assert r.status_code in (200, 201), r.text
        desk = r.json()["id"]
        r = await home.apps.user.post(f"{U}/run", json={"appName": desk, "userId": "u", "sessionId": "f1",
                                                        "newMessage": {"parts": [{"text": "route me"}]}})
        assert r.status_code == 200, r.text
        assert texts(r.json()) == [f"peer-llm says: {peer_last_user_text(peer_llm)}"]
        assert [q for q in llm.requests if q.route == "chat"]  # the local step ran
        sent = peer_llm.requests[-1].json
        assert any("route me" in str(m.get("content")) for m in sent["messages"])

        # a remote agent can itself be served over A2A: home fronts the peer's agent
        row = (await home.apps.admin.get(f"{A}/agents/{proxy}")).json()
        r = await home.apps.admin.put(f"{A}/agents/{proxy}", json={**row, "a2a": {**row["a2a"], "enabled": True}})
        assert r.status_code == 200, r.text
        agent, http = remote_agent(home.url, proxy)
        async with http:
            assert a2a_texts(await ask(agent, "relay this")) == ["peer-llm says: relay this"]


def peer_last_user_text(srv: FakeServer) -> str:
    users = [m for m in srv.requests[-1].json["messages"] if m["role"] == "user"]
    content = users[-1]["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


async def test_remote_agent_pointing_at_its_own_instance_ends_as_a_loop(tmp_path: Any, llm: FakeServer) -> None:
    async with served_magec(tmp_path / "d") as m:
        target = await make_agent(m.apps, llm, name="Target")
        r = await m.apps.admin.post(f"{A}/agents", json={
            "name": "Self", "a2a": {"remote": {"url": f"{m.url}/api/v1/a2a/{target}"}}})
        r = await m.apps.user.post(f"{U}/run", json={"appName": r.json()["id"], "userId": "u",
                                                     "newMessage": {"parts": [{"text": "x"}]}})
    events = r.json()
    assert r.status_code == 200 and events[-1].get("errorMessage") and "508" in events[-1]["errorMessage"]
    assert not [q for q in llm.requests if q.route == "chat"]


@pytest.mark.parametrize(("remote", "field"), [
    ({}, "a2a.remote.url"),
    ({"url": "ftp://x"}, "a2a.remote.url"),
    ({"url": ""}, "a2a.remote.url"),
    ({"token": "t"}, "a2a.remote.url"),
])
async def test_remote_url_is_validated(tmp_path: Any, remote: dict[str, Any], field: str) -> None:
    async with served_magec(tmp_path / "d") as m:
        r = await m.apps.admin.post(f"{A}/agents", json={"name": "Bad", "a2a": {"remote": remote}})
    assert r.status_code == 400, r.text
    assert field in r.text


async def test_remote_agent_in_graph_flow_is_refused_with_a_reason(tmp_path: Any, peer_llm: FakeServer) -> None:
    async with served_magec(tmp_path / "d") as m:
        r = await m.apps.admin.post(f"{A}/agents", json={"name": "R", "a2a": {"remote": {"url": "http://127.0.0.1:9"}}})
        rid = r.json()["id"]
        r = await m.apps.admin.post(f"{A}/flows", json={"name": "G", "entry": "n1", "nodes": [
            {"id": "n1", "type": "agent", "agentId": rid, "responseAgent": True}], "edges": []})
        assert r.status_code in (200, 201), r.text
        r = await m.apps.user.post(f"{U}/run", json={"appName": r.json()["id"], "userId": "u",
                                                     "newMessage": {"parts": [{"text": "x"}]}})
    assert r.status_code == 503 and "tree flows only" in r.text


async def test_remote_token_is_bound_to_the_url(tmp_path: Any) -> None:
    async with served_magec(tmp_path / "d") as m:
        r = await m.apps.admin.post(f"{A}/agents", json={
            "name": "R", "a2a": {"remote": {"url": "http://127.0.0.1:9/api/v1/a2a/x", "token": "mgc_secret_token_1"}}})
        assert r.status_code in (200, 201), r.text
        row = r.json()
        assert "mgc_secret_token_1" not in r.text
        # keeping the stored token while pointing it elsewhere is refused, naming the URL
        moved = {**row, "a2a": {"remote": {**row["a2a"]["remote"], "url": "http://127.0.0.1:10/api/v1/a2a/x"}}}
        moved["a2a"]["remote"]["token"] = ""  # "" = keep the stored one (as the Admin UI sends it)
        moved["a2a"]["remote"].pop("tokenSet", None)
        r = await m.apps.admin.put(f"{A}/agents/{row['id']}", json=moved)
        assert r.status_code == 400 and "a2a.remote.url" in r.text, r.text
        # sending the token again with the new URL is fine
        moved["a2a"]["remote"]["token"] = "mgc_secret_token_2"
        r = await m.apps.admin.put(f"{A}/agents/{row['id']}", json=moved)
        assert r.status_code == 200, r.text
        assert "mgc_secret_token_2" not in r.text


async def test_put_keeps_or_clears_remote(tmp_path: Any) -> None:
    async with served_magec(tmp_path / "d") as m:
        r = await m.apps.admin.post(f"{A}/agents", json={
            "name": "R", "a2a": {"remote": {"url": "http://127.0.0.1:9/api/v1/a2a/x", "token": "tok-123456789"}}})
        rid = r.json()["id"]
        # Magec's UI sends only a2a.enabled: the remote setting (ours) is kept
        r = await m.apps.admin.put(f"{A}/agents/{rid}", json={"name": "R", "a2a": {"enabled": True}})
        assert r.status_code == 200 and r.json()["a2a"]["remote"]["url"] == "http://127.0.0.1:9/api/v1/a2a/x"
        assert r.json()["a2a"]["remote"]["tokenSet"] is True
        # null clears it: the agent is a plain (here: backend-less, so invalid) agent again
        r = await m.apps.admin.put(f"{A}/agents/{rid}", json={"name": "R", "a2a": {"enabled": True, "remote": None}})
        assert r.status_code == 200 and r.json()["a2a"]["remote"] is None
        assert r.json()["valid"] is False and "LLM backend" in r.json()["invalidReason"]


async def test_credentials_in_the_remote_url_are_masked(tmp_path: Any) -> None:
    async with served_magec(tmp_path / "d") as m:
        r = await m.apps.admin.post(f"{A}/agents", json={
            "name": "R", "a2a": {"remote": {"url": "http://127.0.0.1:9/api/v1/a2a/x?token=supersecret123"}}})
        assert r.status_code in (200, 201), r.text
        assert r.json()["a2a"]["remote"]["url"] == "http://127.0.0.1:9/api/v1/a2a/x?token=***"
        assert "supersecret123" not in (await m.apps.admin.get(f"{A}/agents/{r.json()['id']}")).text
