"""Bot test helpers: an LLM/STT/TTS backend and agents configured through the Admin API, a bot
client created like a user would, and its worker as the client supervisor runs it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from magec.testing.apps import Apps

A = "/api/v1/admin"
KEY = "sk-bots-test-key-123456"


@dataclass
class Setup:
    backend: str
    alpha: str  # speaks: LLM + STT + TTS
    beta: str  # text only


async def agents(apps: Apps, alpha_url: str, beta_url: str) -> Setup:
    """Agent Alpha (LLM, STT and TTS on the ``alpha`` provider) and Beta (LLM on ``beta``)."""
    bids = []
    for name, url in (("alpha", alpha_url), ("beta", beta_url)):
        r = await apps.admin.post(f"{A}/backends", json={"name": name, "type": "openai", "url": url, "apiKey": KEY})
        assert r.status_code == 201, r.text
        bids.append(r.json()["id"])
    ids = []
    for name, voice, bid in (("Alpha", True, bids[0]), ("Beta", False, bids[1])):
        body: dict[str, Any] = {"name": name, "llm": {"backend": bid, "model": "m-1"}}
        if voice:
            body["transcription"] = {"backend": bid, "model": "whisper-1"}
            body["tts"] = {"backend": bid, "model": "tts-1", "voice": "alloy"}
        r = await apps.admin.post(f"{A}/agents", json=body)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return Setup(bids[0], ids[0], ids[1])


async def client(apps: Apps, ctype: str, config: dict[str, Any], allowed: list[str], name: str = "") -> str:
    r = await apps.admin.post(f"{A}/clients", json={"name": name or f"{ctype} bot", "type": ctype,
                                                     "allowedAgents": allowed, "config": {ctype: config}})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@contextlib.asynccontextmanager
async def running(apps: Apps, client_id: str) -> AsyncIterator[Any]:
    """The client's worker, started by the client supervisor as in ``magec serve`` (the client was
    created through the Admin API); yields what has ``.status`` (the WorkerStatus the Admin API
    shows). The worker stops with the app at the end of the test."""
    supervisor = apps.ctx.extras["clients"]
    statuses = supervisor.statuses
    # the Admin write that created the client returned after the supervisor started its worker
    # (running, or already failed and waiting to restart: either way its worker is supervised)
    assert supervisor.runs_here(client_id) and client_id in statuses
    yield SimpleNamespace(status=statuses[client_id], client_id=client_id)


async def admin_status(apps: Apps, client_id: str) -> dict[str, Any]:
    """The client's ``status`` as the Admin API (and the UI) shows it."""
    r = await apps.admin.get(f"{A}/clients/{client_id}")
    assert r.status_code == 200, r.text
    return dict(r.json()["status"])


async def until(predicate: Any, timeout: float = 20.0) -> None:
    """Wait for a condition the bot makes true (polling the in-process state it writes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def requests_to(server: Any, route: str) -> list[Any]:
    """What a fake provider received on ``route`` (chat, stt, tts…)."""
    return [r for r in server.requests if r.route == route]
