"""Helpers for the costs tests: resources through the Admin API, turns through the user APIs."""

from __future__ import annotations

from typing import Any

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer

A = "/api/v1/admin"
U = "/api/v1/agent"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def backend(apps: Apps, server: FakeServer, btype: str = "openai", name: str | None = None) -> str:
    r = await apps.admin.post(f"{A}/backends", json={"name": name or f"{btype}-{server.port}", "type": btype,
                                                      "url": server.url, "apiKey": "sk-test"})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def agent(apps: Apps, backend_id: str, name: str, model: str = "m-1", **extra: Any) -> str:
    r = await apps.admin.post(f"{A}/agents", json={"name": name, "llm": {"backend": backend_id, "model": model},
                                                    **extra})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def client(apps: Apps, name: str, allowed: list[str], **extra: Any) -> dict[str, Any]:
    r = await apps.admin.post(f"{A}/clients", json={"name": name, "allowedAgents": allowed, **extra})
    assert r.status_code in (200, 201), r.text
    data: dict[str, Any] = r.json()
    return data


async def run(apps: Apps, app_id: str, text: str, *, token: str | None = None, session: str = "s1",
              user: str = "u1") -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = await apps.user.post(f"{U}/run", headers=headers, json={
        "appName": app_id, "userId": user, "sessionId": session,
        "newMessage": {"role": "user", "parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()
    return events


async def chat(apps: Apps, model: str, text: str, *, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await apps.user.post("/v1/chat/completions", headers=headers,
                                json={"model": model, "messages": [{"role": "user", "content": text}]})
