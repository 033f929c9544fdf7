"""Least privilege for stdio MCP servers: a real stdio MCP subprocess dumps its environment.

magec's own environment holds canaries for every kind of secret it may carry (admin password,
encryption key, provider keys, an arbitrary variable); the MCP server must see none of them — only
the harmless basics and what its resource's ``env`` declares.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.tools.conftest import SERVER_SCRIPT

A = "/api/v1/admin"
CANARIES = {
    "MAGEC_ADMIN_PASSWORD": "canary-admin-pw",
    "MAGEC_ENCRYPTION_KEY": "canary-enc-key",
    "OPENAI_API_KEY": "sk-canary-openai",
    "ANTHROPIC_API_KEY": "sk-ant-canary",
    "GEMINI_API_KEY": "canary-gemini",
    "SOME_DEPLOYMENT_TOKEN": "canary-deploy-token",
}


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("fake-llm")) as s:
        yield s


async def test_stdio_mcp_gets_a_minimal_environment(
    tmp_path: Path, llm: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in CANARIES.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("TZ", "Europe/Madrid")
    async with running_apps(tmp_path / "data") as apps:
        b = (await apps.admin.post(f"{A}/backends", json={"name": "llm", "type": "openai", "url": llm.url,
                                                           "apiKey": "sk-test"})).json()
        r = await apps.admin.post(f"{A}/mcps", json={
            "name": "envdump", "type": "stdio", "command": sys.executable, "args": [str(SERVER_SCRIPT)],
            "env": {"DECLARED_BY_RESOURCE": "yes", "LANG": "C.UTF-8"}, "workDir": str(tmp_path)})
        assert r.status_code == 201, r.text
        r = await apps.admin.post(f"{A}/agents", json={"name": "Dumper", "llm": {"backend": b["id"], "model": "m"},
                                                        "mcpServers": [r.json()["id"]]})
        assert r.status_code == 201, r.text
        aid = r.json()["id"]
        r = await apps.user.post("/api/v1/agent/run", json={
            "appName": aid, "userId": "u", "sessionId": "s",
            "newMessage": {"role": "user", "parts": [{"text": "call environ {}"}]}})
        assert r.status_code == 200, r.text
        results = [p["functionResponse"]["response"] for e in r.json() if not e.get("partial")
                   for p in (e.get("content") or {}).get("parts", []) if "functionResponse" in p]
        assert len(results) == 1, r.json()
        env: dict[str, Any] = results[0]["structuredContent"]  # a dict result is the structured content

    # what the resource declares, and the harmless basics from magec's environment
    assert env["DECLARED_BY_RESOURCE"] == "yes" and env["LANG"] == "C.UTF-8"
    assert env["TZ"] == "Europe/Madrid" and env["PATH"]
    # no canary, no MAGEC_* at all, under any name
    leaked = {k for k, v in env.items() if v in CANARIES.values() or k in CANARIES or k.startswith("MAGEC_")}
    assert not leaked, leaked
    assert not [k for k in env if k.endswith(("_KEY", "_TOKEN", "_SECRET", "_PASSWORD"))], sorted(env)
