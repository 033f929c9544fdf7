"""Helpers for flow tests: create backends, agents and flows through the Admin API, run turns."""

from __future__ import annotations

from typing import Any

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer

A = "/api/v1/admin"
U = "/api/v1/agent"


async def backend(apps: Apps, server: FakeServer, btype: str, name: str | None = None) -> str:
    r = await apps.admin.post(f"{A}/backends", json={"name": name or f"{btype}-{server.port}", "type": btype,
                                                      "url": server.url, "apiKey": "sk-test"})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def agent(apps: Apps, backend_id: str, name: str, **extra: Any) -> str:
    r = await apps.admin.post(f"{A}/agents", json={"name": name, "llm": {"backend": backend_id, "model": "m-1"},
                                                    **extra})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def flow(apps: Apps, name: str, root: dict[str, Any]) -> str:
    r = await apps.admin.post(f"{A}/flows", json={"name": name, "root": root})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def step(agent_id: str, response: bool = False) -> dict[str, Any]:
    return {"type": "agent", "agentId": agent_id, "responseAgent": response}


def seq(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"type": "sequential", "steps": list(steps)}


def par(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"type": "parallel", "steps": list(steps)}


def loop(*steps: dict[str, Any], max_iterations: int, mode: str = "none", expression: str = "") -> dict[str, Any]:
    return {"type": "loop", "maxIterations": max_iterations, "exit": {"mode": mode, "expression": expression},
            "steps": list(steps)}


async def run(apps: Apps, app_id: str, text: str, *, session: str = "s1", admin: bool = False) -> list[dict[str, Any]]:
    client, prefix = (apps.admin, f"{A}/agent") if admin else (apps.user, U)
    r = await client.post(f"{prefix}/run", json={"appName": app_id, "userId": "u1", "sessionId": session,
                                                  "newMessage": {"role": "user", "parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()
    return events


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [p["text"] for e in events if not e.get("partial") for p in (e.get("content") or {}).get("parts", [])
            if "text" in p]


def errors(events: list[dict[str, Any]]) -> list[str]:
    return [str(e.get("errorMessage")) for e in events if "errorCode" in e]


async def graph(apps: Apps, name: str, entry: str, nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
                **extra: Any) -> str:
    """Create a graph flow (Magec G2 shape) through the Admin API; its id."""
    r = await apps.admin.post(f"{A}/flows", json={"name": name, "entry": entry, "nodes": nodes, "edges": edges,
                                                   **extra})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def node(node_id: str, ntype: str, **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "type": ntype, **fields}


def edge(src: str, dst: str, route: str = "") -> dict[str, Any]:
    return {"from": src, "to": dst, **({"route": route} if route else {})}
