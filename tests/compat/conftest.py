"""Client-compatibility suite: real third-party clients against a real ``magec serve``.

One ``magec serve`` subprocess (SQLite) per session, one loopback OpenAI fake as the agents'
provider. The fake answers ``"compat says: <text>"``, calls a tool when the user text says
``call <tool> {json args}`` and the tool is offered, and answers JSON satisfying the requested
schema (values from a JSON object in the user text) when structured output is asked for.
Agents: ``Helper`` (the one most tests talk to) and ``Mute`` (no voice, for error paths).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
WEB_UI_ORIGIN = "http://localhost:8000"
#: ``server.streamPing`` of this server: a silent turn shows its keep-alive pings within seconds
STREAM_PING = 3


@dataclass
class Magec:
    server: ServerProcess
    fake: FakeServer
    agent_id: str

    @property
    def v1(self) -> str:
        return f"{self.server.user_url}/v1"


@pytest.fixture(scope="session")
def compat_fake() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("compat")) as fake:
        yield fake


@pytest.fixture(scope="session")
def magec(tmp_path_factory: pytest.TempPathFactory, compat_fake: FakeServer) -> Iterator[Magec]:
    data: Path = tmp_path_factory.mktemp("compat-magec")
    # ADK's dev web UI served from another origin (adk web's default port) may call the run API
    with ServerProcess(data_dir=data, server_config={"corsOrigins": [WEB_UI_ORIGIN], "streamPing": STREAM_PING}) as server:
        admin = httpx.Client(base_url=server.admin_url, timeout=30)
        b = admin.post(f"{A}/backends", json={"name": "compat", "type": "openai", "url": compat_fake.url}).json()
        agent = admin.post(f"{A}/agents", json={"name": "Helper", "systemPrompt": "You are Helper.",
                                                "llm": {"backend": b["id"], "model": "fake-chat"}}).json()
        assert httpx.get(f"{server.user_url}/v1/models/Helper").status_code == 200
        yield Magec(server, compat_fake, agent["id"])


@pytest.fixture(autouse=True)
def _fresh_fake(compat_fake: FakeServer) -> None:
    compat_fake.clear()
