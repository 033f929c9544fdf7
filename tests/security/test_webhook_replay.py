"""Hostile: a captured signed webhook call, replayed inside its 5-minute window.

A signed call's timestamp bounded how long a captured call (a proxy log, a leaked CI trace) could
be replayed, but inside those minutes it ran the webhook's agent again as often as it was sent, and
on each replica. Each accepted signature is now kept in the shared database for the window: a
replay is refused ``409`` on every process and replica, and the agent runs once."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from magec.api.user.webhooks import signature_headers
from magec.testing.apps import running_apps
from magec.testing.apps import serving as serve
from magec.testing.fake_providers import FakeServer, OpenAIFake

A = "/api/v1/admin"
KEY = "s3cret-hmac-key"


@contextlib.asynccontextmanager
async def replica(data_dir: Path, db_url: str) -> AsyncIterator[tuple[Any, str]]:
    from magec.server import user_app

    async with running_apps(data_dir, database_url=db_url) as apps, serve(user_app(apps.ctx)) as url:
        yield apps, url


async def test_a_signed_call_runs_once_on_every_replica(tmp_path: Path, db_url: str) -> None:
    with FakeServer(OpenAIFake("hook")) as llm:
        async with replica(tmp_path / "a", db_url) as (apps, one), replica(tmp_path / "b", db_url) as (_, two):
            b = (await apps.admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": llm.url})).json()
            aid = (await apps.admin.post(f"{A}/agents", json={"name": "a", "llm": {"backend": b["id"],
                                                                                   "model": "m"}})).json()["id"]
            c = (await apps.admin.post(f"{A}/clients", json={"name": "hook", "type": "webhook", "allowedAgents": [aid],
                                                             "config": {"webhook": {"passthrough": True,
                                                                                    "signingSecret": KEY}}})).json()
            raw = json.dumps({"prompt": "deploy to production"}).encode()
            captured = {"Authorization": f"Bearer {c['token']}", "Content-Type": "application/json",
                        **signature_headers(KEY, raw)}
            async with httpx.AsyncClient(timeout=30) as http:
                r = await http.post(f"{one}/api/v1/webhooks/{c['id']}", content=raw, headers=captured)
                assert r.status_code == 200, r.text
                for url in (one, two):  # the same call again, on this replica and the other
                    r = await http.post(f"{url}/api/v1/webhooks/{c['id']}", content=raw, headers=captured)
                    assert r.status_code == 409, (url, r.text)
                    assert r.json()["ok"] is False and r.json()["code"] == "conflict", r.json()
                assert len(llm.requests_to("chat")) == 1  # the agent ran once
                # the same body signed anew (a retry at another time) is a new call
                fresh = {**captured, **signature_headers(KEY, raw, now=time.time() + 1)}
                r = await http.post(f"{two}/api/v1/webhooks/{c['id']}", content=raw, headers=fresh)
                assert r.status_code == 200, r.text
