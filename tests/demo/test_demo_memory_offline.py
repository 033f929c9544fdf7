"""The offline demo's long-term memory works with its real tool-less model (SmolLM2 on llama.cpp):
told "my name is Ada" in one session, the demo agent answers "what is my name?" in a new session
— magec recalls the memory into the request and saved the user's words itself, since the model
calls no tool (magec.memory.automatic). Driven as a user: the run API, and the Admin API's memory list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from magec.config import Config
from magec.demo import ensure_demo, local_available
from magec.testing.apps import Apps, running_apps

pytestmark = pytest.mark.local


async def ask(apps: Apps, agent: str, session: str, text: str) -> str:
    r = await apps.user.post("/api/v1/agent/run", json={
        "appName": agent, "userId": "ada", "sessionId": session, "newMessage": {"parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()
    assert not any(e.get("errorCode") for e in events), events
    return " ".join(p["text"] for e in events if not e.get("partial")
                    for p in (e.get("content") or {}).get("parts", []) if p.get("text"))


@pytest.mark.skipif(not local_available()[0], reason=f"local extra not installed: {local_available()[1]}")
async def test_the_demo_agent_remembers_a_name_across_sessions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ids = await ensure_demo(Config(data_dir=data, encryption_key="test-encryption-key"), Console(quiet=True))
    async with running_apps(data) as apps:
        await ask(apps, ids["agent"], "first", "Please remember this: my name is Ada.")
        # what the user said is in the agent's long-term memory (no tool call needed)
        items = (await apps.admin.get("/api/v1/admin/memory/entries")).json()["items"]
        assert [i["content"] for i in items] == ["Please remember this: my name is Ada."], items
        # a question is no fact to keep; the name comes back in new sessions. A 135M-parameter model
        # samples its words: one of a few fresh sessions is enough (without the memory the model
        # has no way to say "Ada")
        answers = [await ask(apps, ids["agent"], f"later-{i}", "What is my name?") for i in range(5)]
        assert any("Ada" in a for a in answers), answers
        items = (await apps.admin.get("/api/v1/admin/memory/entries")).json()["items"]
        assert len(items) == 1, items
