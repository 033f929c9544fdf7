"""Helpers of the audit tests: resources through the Admin API and reads of the audit routes."""

from __future__ import annotations

import itertools
import json
from typing import Any

from magec.testing.apps import Apps

A = "/api/v1/admin"
U = "/api/v1/agent"
C = f"{A}/conversations"
_names = itertools.count(1)


async def backend(apps: Apps, url: str, type_: str = "openai", **extra: Any) -> str:
    body = {"name": f"fake-{next(_names)}", "type": type_, "url": url, "apiKey": "k-1", "timeout": 5.0,
            "connectTimeout": 1.0, **extra}
    r = await apps.admin.post(f"{A}/backends", json=body)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def agent(apps: Apps, backend_id: str, name: str = "", model: str = "m-1", **extra: Any) -> str:
    body = {"name": name or f"Agent {next(_names)}", "llm": {"backend": backend_id, "model": model}, **extra}
    r = await apps.admin.post(f"{A}/agents", json=body)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def run(apps: Apps, app_id: str, text: str, *, user: str = "u1", session: str = "s1",
              headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    r = await apps.user.post(f"{U}/run", headers=headers or {}, json={
        "appName": app_id, "userId": user, "sessionId": session,
        "newMessage": {"role": "user", "parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


async def run_sse(apps: Apps, app_id: str, text: str, *, session: str = "s2", query: str = "",
                  streaming: bool = True) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with apps.user.stream("POST", f"{U}/run_sse{query}", json={
        "appName": app_id, "userId": "u1", "sessionId": session, "streaming": streaming,
        "newMessage": {"role": "user", "parts": [{"text": text}]}}) as s:
        assert s.status_code == 200
        async for line in s.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


async def conversations(apps: Apps, **params: Any) -> dict[str, Any]:
    r = await apps.admin.get(C, params=params)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def only(apps: Apps, **params: Any) -> dict[str, Any]:
    """The one user-perspective conversation matching ``params``."""
    listed = await conversations(apps, perspective="user", **params)
    assert listed["total"] == 1, listed
    item: dict[str, Any] = listed["items"][0]
    return item


async def detail(apps: Apps, cid: str, **params: Any) -> dict[str, Any]:
    r = await apps.admin.get(f"{C}/{cid}", params=params)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def turns(apps: Apps, **params: Any) -> list[dict[str, Any]]:
    """Every turn matching the filters, from the JSON-lines export."""
    r = await apps.admin.get(f"{C}/export", params={"format": "jsonl", **params})
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]
