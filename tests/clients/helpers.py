"""Shared helpers for the clients tests: a fake LLM backend, agents, commands and clients through
the Admin API, as an operator would create them."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx

from magec.testing.apps import Apps
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
_names = itertools.count(1)


async def backend(apps: Apps, url: str) -> str:
    r = await apps.admin.post(f"{A}/backends", json={"name": f"fake-{next(_names)}", "type": "openai", "url": url})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def agent(apps: Apps, backend_id: str, name: str = "", **fields: Any) -> str:
    body = {"name": name or f"Agent {next(_names)}", "llm": {"backend": backend_id, "model": "m-1"}, **fields}
    r = await apps.admin.post(f"{A}/agents", json=body)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def command(apps: Apps, prompt: str, name: str = "") -> str:
    r = await apps.admin.post(f"{A}/commands", json={"name": name or f"cmd-{next(_names)}", "prompt": prompt})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def client(apps: Apps, ctype: str, allowed: list[str], config: dict[str, Any] | None = None,
                 **fields: Any) -> dict[str, Any]:
    body = {"name": f"{ctype}-{next(_names)}", "type": ctype, "allowedAgents": allowed,
            "config": config or {}, **fields}
    r = await apps.admin.post(f"{A}/clients", json=body)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def client_status(c: httpx.Client, srv: ServerProcess, cid: str) -> dict[str, Any]:
    """A client's ``status`` as a replica's Admin API shows it."""
    r = c.get(f"{srv.admin_url}{A}/clients/{cid}")
    assert r.status_code == 200, r.text
    return dict(r.json()["status"] or {})


def until(fn: Any, timeout: float, what: str) -> Any:
    """Poll ``fn`` (a client waiting for a lease to change hands) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
