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

Whatever answers at that URL chooses how much it sends, as a backend's does: every answer (the
card, a reply, a whole stream) is read up to :data:`MAX_ANSWER_BYTES`, a larger declared
``Content-Length`` is refused unread, and a body past it ends the call (a failed turn, as for any
broken remote) — read whole, a peer sending without end took the server's memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from a2a.client.client import ClientConfig
from a2a.client.client_factory import ClientFactory
from google.adk.agents import BaseAgent

from magec import hops
from magec.errors import MagecError, MalformedResponseError
from magec.resources import Agent

CARD_PATH = "/.well-known/agent-card.json"
#: one remote turn may take as long as a local one (ADK's default is 600 s)
TIMEOUT = 600.0


def card_url(url: str) -> str:
    """The card of an A2A endpoint URL (a URL already naming a ``.json`` card is used as is)."""
    url = url.strip()
    return url if url.split("?", 1)[0].endswith(".json") else url.rstrip("/") + CARD_PATH


#: the most magec reads of one answer of a remote agent (as a backend's default maxResponseBytes)
MAX_ANSWER_BYTES = 32 * 1024 * 1024


async def _hop(request: httpx.Request) -> None:
    request.headers[hops.HEADER] = hops.outgoing()


def _too_large() -> MalformedResponseError:
    return MalformedResponseError(f"the remote A2A agent's answer is larger than {MAX_ANSWER_BYTES} bytes")


class _Capped(httpx.AsyncByteStream):
    """A response body that fails once more than :data:`MAX_ANSWER_BYTES` of it were read."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > MAX_ANSWER_BYTES:
                raise _too_large()
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _cap(response: httpx.Response) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        await response.aclose()
        raise _too_large()
    response.stream = _Capped(response.stream)


def build_remote(agent: Agent, name: str) -> BaseAgent:
    """The ADK agent for an agent resource with ``a2a.remote`` (MagecError when it cannot be built)."""
    remote = agent.a2a.remote
    if remote is None or not remote.url:
        raise MagecError("a2a.remote.url not configured")
    from google.adk.agents.remote_a2a_agent import RemoteA2aAgent

    headers = {"Authorization": f"Bearer {remote.token}"} if remote.token else {}
    http = httpx.AsyncClient(headers=headers, timeout=TIMEOUT, event_hooks={"request": [_hop], "response": [_cap]})
    factory = ClientFactory(ClientConfig(httpx_client=http, streaming=True))
    kwargs: dict[str, Any] = {"description": agent.description or agent.name}
    return RemoteA2aAgent(name=name, agent_card=card_url(remote.url), a2a_client_factory=factory,
                          timeout=TIMEOUT, **kwargs)
