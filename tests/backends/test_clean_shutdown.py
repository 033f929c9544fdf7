"""A served process uses its backends' SDK clients (the SDKs' aiohttp transport) and leaves nothing
open behind: after streamed and plain calls to OpenAI- and Anthropic-type backends, and a backend
edit that builds a new client, a SIGTERM stops ``magec serve`` with exit code 0 and its log holds
no "Unclosed client session" / "Unclosed connector" error — read as an operator would."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai

from magec.testing.fake_providers import AnthropicFake, FakeServer, OpenAIFake
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
