"""A served process uses its backends' SDK clients (the SDKs' aiohttp transport) and leaves nothing
open behind: after streamed and plain calls to OpenAI- and Anthropic-type backends, and a backend
edit that builds a new client, a SIGTERM stops ``magec serve`` with exit code 0 and its log holds
no "Unclosed client session" / "Unclosed connector" error — read as an operator would."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import openai

from magec.testing.fake_providers import AnthropicFake, FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess

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


def test_a_stream_open_at_sigterm_finishes_and_its_turn_is_kept(tmp_path: Path) -> None:
    """A SIGTERM while a ``/run_sse`` answer is streaming: the stream runs to its final event (the
    server drains it like any in-flight request), the process exits 0, and the turn is in the
    session when the server is back."""
    answer = "one two three four five six seven eight"
    with FakeServer(OpenAIFake("oa")) as oa:
        srv = ServerProcess(data_dir=tmp_path / "data").start()
        try:
            admin = httpx.Client(base_url=srv.admin_url, timeout=30)
            b = admin.post(f"{A}/backends", json={"name": "oa", "type": "openai", "url": oa.url + "/v1",
                                                  "apiKey": "k1"}).json()
            agent = admin.post(f"{A}/agents", json={"name": "a", "llm": {"backend": b["id"], "model": "m"}}).json()
            oa.script(Reply(text=answer, chunk_delay=0.25), route="chat")  # ~2 s of tokens
            body = {"appName": agent["id"], "userId": "u", "sessionId": "s1", "streaming": True,
                    "newMessage": {"parts": [{"text": "count"}]}}
            events: list[dict[str, object]] = []
            with httpx.Client(timeout=30) as client, \
                    client.stream("POST", f"{srv.user_url}/api/v1/agent/run_sse", json=body) as r:
                lines = r.iter_lines()
                for line in lines:
                    if line.startswith("data: "):
                        events.append(json.loads(line[6:]))
                        break
                assert srv.proc is not None
                srv.proc.send_signal(signal.SIGTERM)  # the first token is out: the turn is in flight
                events += [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
            final = [e for e in events if not e.get("partial")]
            assert final and final[-1]["content"]["parts"][0]["text"] == answer  # type: ignore[index]
            assert srv.proc.wait(30) == 0
        finally:
            srv.stop()
        again = ServerProcess(data_dir=tmp_path / "data").start()
        try:
            got = httpx.get(f"{again.user_url}/api/v1/agent/apps/{agent['id']}/users/u/sessions/s1", timeout=30)
            texts = [p.get("text") for e in got.json()["events"] for p in e["content"]["parts"]]
            assert texts == ["count", answer]
        finally:
            again.stop()
