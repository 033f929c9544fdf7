"""An agent whose ``a2a.remote`` is set: ADK's ``RemoteA2aAgent`` in place of an ``LlmAgent``.

The agent's own ``llm``, tools and prompt are not used: the remote agent answers (its card says
what it can do). It is built wherever an agent is — alone as an app, or as a step of a tree flow —
so a flow can mix local and remote steps; the remote step sees the conversation so far (ADK's
RemoteA2aAgent sends the session's new events since its last reply and keeps the peer's
``contextId`` in the session, so later turns continue the peer's conversation).

Outgoing requests carry the bearer token (when set) and magec's loop-guard header
(:mod:`magec.hops`, as every backend call does), so magec → itself over A2A ends with 508, not a
loop. ADK refuses a card whose RPC URL is on another origin than the card it came from, so the
token is only ever sent to the configured host. The URL is admin-configured like a backend URL
(docs/security.md): any http(s) host, loopback included.
"""

from __future__ import annotations

from typing import Any

import httpx
from a2a.client.client import ClientConfig
from a2a.client.client_factory import ClientFactory
from google.adk.agents import BaseAgent

from magec import hops
from magec.errors import MagecError
from magec.resources import Agent

CARD_PATH = "/.well-known/agent-card.json"
#: one remote turn may take as long as a local one (ADK's default is 600 s)
TIMEOUT = 600.0


def card_url(url: str) -> str:
    """The card of an A2A endpoint URL (a URL already naming a ``.json`` card is used as is)."""
    url = url.strip()
    return url if url.split("?", 1)[0].endswith(".json") else url.rstrip("/") + CARD_PATH


async def _hop(request: httpx.Request) -> None:
    request.headers[hops.HEADER] = hops.outgoing()


def build_remote(agent: Agent, name: str) -> BaseAgent:
    """The ADK agent for an agent resource with ``a2a.remote`` (MagecError when it cannot be built)."""
    remote = agent.a2a.remote
    if remote is None or not remote.url:
        raise MagecError("a2a.remote.url not configured")
    from google.adk.agents.remote_a2a_agent import RemoteA2aAgent

    headers = {"Authorization": f"Bearer {remote.token}"} if remote.token else {}
    http = httpx.AsyncClient(headers=headers, timeout=TIMEOUT, event_hooks={"request": [_hop]})
    factory = ClientFactory(ClientConfig(httpx_client=http, streaming=True))
    kwargs: dict[str, Any] = {"description": agent.description or agent.name}
    return RemoteA2aAgent(name=name, agent_card=card_url(remote.url), a2a_client_factory=factory,
                          timeout=TIMEOUT, **kwargs)
