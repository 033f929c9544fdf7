"""Loop guard: an agent whose backend is magec's own ``/v1`` ends at once with a clear error, and a
client hanging up stops the turn it started.

Everything is observed as a client would: HTTP answers, the ``/metrics`` counters, and the headers
a fake provider received.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
PASSWORD = "loop-admin"
AUTH = {"Authorization": f"Bearer {PASSWORD}"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("alpha")) as s:
        yield s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake: FakeServer) -> Iterator[tuple[ServerProcess, str, str, str]]:
    """A real server with "looper" (backend = its own user API), "slow" (a fake provider) and
    "slowflow" (a flow whose one step is "slow")."""
    with ServerProcess(tmp_path_factory.mktemp("loop"), admin_password=PASSWORD) as srv:
        admin = httpx.Client(base_url=srv.admin_url, headers=AUTH, timeout=10)
        own = admin.post(f"{A}/backends", json={"name": "self", "type": "openai", "url": f"{srv.user_url}/v1"})
        assert own.status_code == 201, own.text
        looper = admin.post(f"{A}/agents", json={"name": "looper", "llm": {"backend": own.json()["id"], "model": "looper"}})
        assert looper.status_code == 201, looper.text
        ext = admin.post(f"{A}/backends", json={"name": "fake", "type": "openai", "url": fake.url}).json()
        slow = admin.post(f"{A}/agents", json={"name": "slow", "llm": {"backend": ext["id"], "model": "m"}}).json()
        flow = admin.post(f"{A}/flows", json={"name": "slowflow", "root": {"type": "sequential", "steps": [
            {"type": "agent", "agentId": slow["id"], "responseAgent": True}]}})
        assert flow.status_code == 201, flow.text
        yield srv, looper.json()["id"], slow["id"], flow.json()["id"]


def _user_posts(srv: ServerProcess) -> dict[str, float]:
    """``magec_http_requests_total`` of POSTs on the user app, by status."""
    text = httpx.get(f"{srv.user_url}/metrics", timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("magec_http_requests_total{") and 'app="user"' in line and 'method="POST"' in line:
            status = re.search(r'status="(\d+)"', line)
            assert status is not None
            out[status.group(1)] = out.get(status.group(1), 0) + float(line.rsplit(" ", 1)[1])
    return out


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def test_self_loop_ends_with_one_clear_error_event(server: tuple[ServerProcess, str, str, str]) -> None:
    srv, looper, _, _ = server
    before = _user_posts(srv)
    started = time.monotonic()
    r = httpx.post(
        f"{srv.user_url}/api/v1/agent/run",
        json={"appName": looper, "userId": "u", "newMessage": {"parts": [{"text": "hi"}]}},
        timeout=30,
    )
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    events = r.json()
    errors = [e for e in events if e.get("errorCode")]
    assert len(errors) == 1, events
    assert "loop detected" in errors[0]["errorMessage"], errors[0]
    assert elapsed < 10
    # exactly one nested call: the /run itself (200) and the refused /v1 call (508), nothing more
    assert _delta(before, _user_posts(srv)) == {"200": 1, "508": 1}


def test_self_loop_through_the_openai_api_and_sse(server: tuple[ServerProcess, str, str, str]) -> None:
    srv, looper, _, _ = server
    before = _user_posts(srv)
    r = httpx.post(
        f"{srv.user_url}/v1/chat/completions",
        json={"model": looper, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert r.status_code == 502 and "loop detected" in r.json()["error"]["message"], r.text
    with httpx.stream(
        "POST",
        f"{srv.user_url}/api/v1/agent/run_sse",
        json={"appName": looper, "userId": "u", "newMessage": {"parts": [{"text": "hi"}]}, "streaming": True},
        timeout=30,
    ) as s:
        events = [json.loads(line[5:]) for line in s.iter_lines() if line.startswith("data:")]
    assert [e for e in events if e.get("errorCode")][0]["errorMessage"].count("loop detected") == 1
    assert _delta(before, _user_posts(srv)) == {"502": 1, "200": 1, "508": 2}


def test_refuses_own_id_and_long_chains_but_not_a_short_foreign_chain(server: tuple[ServerProcess, str, str, str]) -> None:
    srv, _, slow, flow = server
    body = {"model": slow, "messages": [{"role": "user", "content": "hi"}]}
    chain = ",".join(f"{i:016x}" for i in range(1, 5))
    r = httpx.post(f"{srv.user_url}/v1/chat/completions", json=body, headers={"X-Magec-Hop": chain}, timeout=30)
    assert r.status_code == 508 and "loop detected" in r.json()["error"]["message"], r.text
    r = httpx.post(f"{srv.user_url}/v1/chat/completions", json=body, headers={"X-Magec-Hop": "00000000000000aa"}, timeout=30)
    assert r.status_code == 200, r.text


async def test_outgoing_calls_carry_the_chain(tmp_path: Path, fake: FakeServer) -> None:
    """A call arriving from instance X goes out with "X,<this instance>"; a fresh one with our id only."""
    fake.clear()
    async with running_apps(tmp_path / "data") as apps:
        b = (await apps.admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": fake.url})).json()
        a = (await apps.admin.post(f"{A}/agents", json={"name": "a", "llm": {"backend": b["id"], "model": "m"}})).json()
        body = {"model": a["id"], "messages": [{"role": "user", "content": "hi"}]}
        r = await apps.user.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        own = fake.requests[-1].headers["x-magec-hop"]
        assert re.fullmatch(r"[0-9a-f]{16}", own)
        r = await apps.user.post("/v1/chat/completions", json=body, headers={"X-Magec-Hop": "00000000000000aa"})
        assert r.status_code == 200, r.text
        assert fake.requests[-1].headers["x-magec-hop"] == f"00000000000000aa,{own}"
        # and a request carrying our own id comes back as 508 without calling the provider
        calls = len(fake.calls())
        r = await apps.user.post("/v1/chat/completions", json=body, headers={"X-Magec-Hop": own})
        assert r.status_code == 508 and len(fake.calls()) == calls


@pytest.mark.parametrize("kind", ["agent", "flow"])
@pytest.mark.parametrize("route", ["run", "run_sse", "v1", "v1-stream"])
def test_client_hang_up_stops_the_turn(server: tuple[ServerProcess, str, str, str], fake: FakeServer, route: str,
                                       kind: str) -> None:
    """The provider holds the first answer for a minute; the client gives up after 1.5 s (before
    any output: a stream's headers may not even be out). Turns on one session run one after
    another, so a second turn on that session answering at once shows the first one was cancelled
    rather than left running for nobody."""
    srv, _, slow, flow = server
    if kind == "flow":
        slow = flow
    fake.clear()
    sid = f"hangup-{route}-{kind}"
    fake.script(Reply(text="too late", delay=60, chunk_delay=60))
    run_body = {"appName": slow, "userId": "u", "sessionId": sid, "newMessage": {"parts": [{"text": "hi"}]}}
    chat_body = {"model": slow, "messages": [{"role": "user", "content": "hi"}]}
    url, body, headers = {
        "run": (f"{srv.user_url}/api/v1/agent/run", run_body, {}),
        "run_sse": (f"{srv.user_url}/api/v1/agent/run_sse", {**run_body, "streaming": True}, {}),
        "v1": (f"{srv.user_url}/v1/chat/completions", chat_body, {"X-Session-Id": sid}),
        "v1-stream": (f"{srv.user_url}/v1/chat/completions", {**chat_body, "stream": True}, {"X-Session-Id": sid}),
    }[route]
    with pytest.raises(httpx.ReadTimeout):
        with httpx.Client(timeout=httpx.Timeout(10, read=1.5)) as c, c.stream("POST", url, json=body, headers=headers) as s:
            for _ in s.iter_bytes():
                pass
    # the next turn on the same session (the /v1 routes' sessions are the OpenAI user's: /v1 again)
    started = time.monotonic()
    if route.startswith("v1"):
        r = httpx.post(f"{srv.user_url}/v1/chat/completions", json=chat_body, headers={"X-Session-Id": sid},
                       timeout=30)
    else:
        r = httpx.post(f"{srv.user_url}/api/v1/agent/run", json=run_body, timeout=30)
    assert r.status_code == 200, r.text
    assert "alpha says" in r.text, r.text
    assert time.monotonic() - started < 15
