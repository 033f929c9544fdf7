"""A served process uses its backends' SDK clients (the SDKs' aiohttp transport) and leaves nothing
open behind: after streamed and plain calls to OpenAI- and Anthropic-type backends, and a backend
edit that builds a new client, a SIGTERM stops ``magec serve`` with exit code 0 and its log holds
no "Unclosed client session" / "Unclosed connector" error — read as an operator would."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from magec.testing.fake_providers import AnthropicFake, FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess
from tests.a2a.conftest import message, rpc

A = "/api/v1/admin"


def test_stop_after_backend_calls_leaves_no_unclosed_sessions(tmp_path: Path) -> None:
    with FakeServer(OpenAIFake("oa")) as oa, FakeServer(AnthropicFake("an")) as an:
        srv = ServerProcess(data_dir=tmp_path / "data").start()
        try:
            admin = httpx.Client(base_url=srv.admin_url, timeout=30)
            agents = {}
            for vendor, fake in (("openai", oa), ("anthropic", an)):
                url = fake.url + ("/v1" if vendor == "openai" else "")
                b = admin.post(f"{A}/backends", json={"name": vendor, "type": vendor, "url": url, "apiKey": "k1"}).json()
                agents[vendor] = (b, admin.post(f"{A}/agents", json={"name": f"on-{vendor}",
                                                                    "llm": {"backend": b["id"], "model": "m"}}).json())
            client = openai.OpenAI(base_url=srv.user_url + "/v1", api_key="none", max_retries=0)
            for vendor, (b, agent) in agents.items():
                answer = client.chat.completions.create(model=agent["id"], messages=[{"role": "user", "content": "hi"}])
                assert answer.choices[0].message.content, vendor
                pieces = client.chat.completions.create(
                    model=agent["id"], messages=[{"role": "user", "content": "hi"}], stream=True)
                assert "".join(c.choices[0].delta.content or "" for c in pieces if c.choices), vendor
                # a new key is a new SDK client; the old one is left for the requests still on it
                assert admin.put(f"{A}/backends/{b['id']}", json={**b, "apiKey": "k2"}).status_code == 200
                again = client.chat.completions.create(model=agent["id"], messages=[{"role": "user", "content": "hi"}])
                assert again.choices[0].message.content, vendor
            # both providers answered every call (plain, streamed, after the new key)
            assert len(oa.requests_to("chat")) == 3 and len(an.requests_to("chat")) == 3
        finally:
            code = srv.stop()
    assert code == 0
    assert srv.log_path is not None
    log = srv.log_path.read_text()
    assert "Unclosed" not in log, log[-3000:]


def _stream_request(route: str, server: ServerProcess, agent_id: str) -> tuple[str, dict[str, object]]:
    if route == "run_sse":
        return f"{server.user_url}/api/v1/agent/run_sse", {
            "appName": agent_id, "userId": "u", "sessionId": "s1", "streaming": True,
            "newMessage": {"parts": [{"text": "count"}]}}
    return f"{server.user_url}/api/v1/a2a/{agent_id}", rpc("message/stream", message("count", "s1"))


def _final_text(route: str, events: list[dict[str, Any]]) -> str:
    if route == "run_sse":
        final = [e for e in events if not e.get("partial")]
        return str(final[-1]["content"]["parts"][0]["text"]) if final else ""
    done = [e["result"] for e in events if e["result"].get("kind") == "artifact-update" and e["result"].get("lastChunk")]
    assert events[-1]["result"]["status"]["state"] == "completed", events[-1]
    return str(done[-1]["artifact"]["parts"][0]["text"]) if done else ""


@pytest.mark.parametrize("route", ["run_sse", "a2a"])
def test_a_stream_open_at_sigterm_finishes_and_its_turn_is_kept(tmp_path: Path, route: str) -> None:
    """A SIGTERM while a ``/run_sse`` or A2A ``message/stream`` answer is streaming: the stream runs
    to its final event (the server drains it like any in-flight request), the process exits 0, and
    the turn is in the session when the server is back."""
    answer = "one two three four five six seven eight"
    with FakeServer(OpenAIFake("oa")) as oa:
        srv = ServerProcess(data_dir=tmp_path / "data").start()
        try:
            admin = httpx.Client(base_url=srv.admin_url, timeout=30)
            b = admin.post(f"{A}/backends", json={"name": "oa", "type": "openai", "url": oa.url + "/v1",
                                                  "apiKey": "k1"}).json()
            agent = admin.post(f"{A}/agents", json={"name": "a", "llm": {"backend": b["id"], "model": "m"},
                                                    "a2a": {"enabled": True}}).json()
            oa.script(Reply(text=answer, chunk_delay=0.25), route="chat")  # ~2 s of tokens
            url, body = _stream_request(route, srv, agent["id"])
            events: list[dict[str, Any]] = []
            with httpx.Client(timeout=30) as client, client.stream("POST", url, json=body) as r:
                lines = r.iter_lines()
                for line in lines:
                    if line.startswith("data: ") and "one" in line:
                        events.append(json.loads(line[6:]))
                        break
                assert srv.proc is not None
                srv.proc.send_signal(signal.SIGTERM)  # the first token is out: the turn is in flight
                events += [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
            assert _final_text(route, events) == answer
            assert srv.proc.wait(30) == 0
        finally:
            srv.stop()
        again = ServerProcess(data_dir=tmp_path / "data").start()
        try:
            sessions = httpx.get(f"{again.admin_url}/api/v1/admin/agent/apps/{agent['id']}/sessions", timeout=30).json()
            assert len(sessions) == 1, sessions
            got = httpx.get(f"{again.admin_url}/api/v1/admin/agent/apps/{agent['id']}/users/"
                            f"{sessions[0]['userId']}/sessions/{sessions[0]['id']}", timeout=30)
            texts = [p.get("text") for e in got.json()["events"] for p in e["content"]["parts"]]
            assert texts == ["count", answer]
        finally:
            again.stop()
