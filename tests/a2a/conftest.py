"""A2A test fixtures: a loopback OpenAI fake, magec's user app on a real loopback socket (in the
test's event loop, so it shares the in-process context), and ADK's ``RemoteA2aAgent`` as the client.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from a2a.client.client import ClientConfig
from a2a.client.client_factory import ClientFactory
from google.adk.agents.remote_a2a_agent import RemoteA2aAgent
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.genai import types

from magec.testing.apps import Apps, running_apps
from magec.testing.apps import serving as serve
from magec.testing.fake_providers import FakeServer, OpenAIFake

A = "/api/v1/admin"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("fake-llm")) as s:
        yield s


@pytest.fixture(autouse=True)
def _clear(llm: FakeServer) -> None:
    llm.clear()


@dataclass
class Served:
    apps: Apps
    url: str


@contextlib.asynccontextmanager
async def served_magec(data_dir: Any, **config: Any) -> AsyncIterator[Served]:
    from magec.server import user_app

    async with running_apps(data_dir, config=config or None) as apps, serve(user_app(apps.ctx)) as url:
        yield Served(apps, url)


@pytest.fixture
async def magec(tmp_path: Any) -> AsyncIterator[Served]:
    async with served_magec(tmp_path / "data") as s:
        yield s


async def make_agent(apps: Apps, llm: FakeServer, *, name: str = "Helper", a2a: bool = True, **extra: Any) -> str:
    b = (await apps.admin.post(f"{A}/backends", json={"name": f"B-{name}", "type": "openai", "url": llm.url})).json()
    r = await apps.admin.post(f"{A}/agents", json={
        "name": name, "description": f"{name} answers questions", "llm": {"backend": b["id"], "model": "m"},
        "a2a": {"enabled": a2a}, **extra})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def remote_agent(url: str, app_id: str, token: str = "", *, streaming: bool = False,
                 name: str = "remote") -> tuple[RemoteA2aAgent, httpx.AsyncClient]:
    """ADK's RemoteA2aAgent pointed at a magec app's card, authenticating with ``token``."""
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30)
    factory = ClientFactory(ClientConfig(httpx_client=http, streaming=streaming))
    agent = RemoteA2aAgent(name=name, agent_card=f"{url}/api/v1/a2a/{app_id}/.well-known/agent-card.json",
                           a2a_client_factory=factory)
    return agent, http


async def ask(agent: RemoteA2aAgent, text: str, session_id: str = "s1") -> list[Any]:
    """One turn of ``agent`` in a local ADK runner (a fresh local session); every event."""
    return await Asker(agent).ask(text, session_id)


class Asker:
    """A local ADK runner around a remote agent: turns on one local session continue one A2A context."""

    def __init__(self, agent: Any) -> None:
        self.svc = InMemorySessionService()
        self.runner = Runner(app_name="client", agent=agent, session_service=self.svc)

    async def ask(self, text: str, session_id: str = "s1") -> list[Any]:
        if await self.svc.get_session(app_name="client", user_id="u", session_id=session_id) is None:
            await self.svc.create_session(app_name="client", user_id="u", session_id=session_id)
        message = types.Content(role="user", parts=[types.Part(text=text)])
        return [ev async for ev in self.runner.run_async(user_id="u", session_id=session_id, new_message=message)]


def texts(events: list[Any]) -> list[str]:
    out = []
    for ev in events:
        if ev.content and ev.content.parts and not ev.partial:
            t = "".join(p.text or "" for p in ev.content.parts if not p.thought)
            if t:
                out.append(t)
    return out


def chat_requests(llm: FakeServer, route: str = "chat") -> list[Any]:
    return [r for r in llm.requests if r.route == route]


def rpc(method: str, params: dict[str, Any], rid: int = 1) -> dict[str, Any]:
    """A JSON-RPC request to an A2A endpoint."""
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}


def message(text: str, context_id: str | None = None) -> dict[str, Any]:
    """``params`` of ``message/send`` / ``message/stream``: one user text (in ``context_id``)."""
    msg: dict[str, Any] = {"role": "user", "messageId": f"m-{text}", "parts": [{"kind": "text", "text": text}]}
    if context_id:
        msg["contextId"] = context_id
    return {"message": msg}
