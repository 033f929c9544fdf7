"""A session import (``POST …/sessions`` with ``events``) is bounded in events per request
(``limits.maxImportEvents``) and checked off the event loop: the other requests of the process
are answered while a long one is imported."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
EVENT = {"author": "user", "content": {"role": "user", "parts": [{"text": "a"}]}}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("alpha")) as s:
        yield s


async def test_an_import_beyond_the_limit_is_refused_naming_events(tmp_path: Path, fake: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        b = (await apps.admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": fake.url})).json()
        aid = (await apps.admin.post(f"{A}/agents", json={"name": "a", "llm": {"backend": b["id"], "model": "m"}})
               ).json()["id"]
        token = (await apps.admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": [aid]})).json()["token"]
        user = {"Authorization": f"Bearer {token}"}
        for client, path, headers in ((apps.user, "/api/v1/agent", user), (apps.admin, f"{A}/agent", {})):
            url = f"{path}/apps/{aid}/users/u/sessions"
            r = await client.post(url, json={"events": [EVENT] * 10_001}, headers=headers)  # the default: 10,000
            assert r.status_code == 400, r.text[:300]
            assert "events" in r.json()["error"] and "limits.maxImportEvents" in r.json()["error"]
            r = await client.post(url, json={"events": [EVENT] * 300}, headers=headers)  # long: checked in a thread
            assert r.status_code == 200 and len(r.json()["events"]) == 300
            r = await client.post(url, json={"events": [EVENT] * 300 + [{"author": "user", "actions": {
                "stateDelta": {"x": 1}}}]}, headers=headers)
            assert r.status_code == 400 and "events[300]" in r.json()["error"]


@pytest.mark.alone  # a latency bound: measured with the machine to itself, after the rest
def test_health_is_answered_on_both_ports_while_a_long_import_runs(tmp_path: Path, fake: FakeServer) -> None:
    """25,000 events (one 2 MiB body) took seconds of checking on the event loop, and both apps
    answered nothing meanwhile (up to 2-3 s per stall); now it is checked in a worker thread."""
    with ServerProcess(tmp_path / "d", config={"limits": {"maxImportEvents": 25_000}}) as srv:
        admin = httpx.Client(base_url=srv.admin_url, timeout=30)
        b = admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": fake.url}).json()
        aid = admin.post(f"{A}/agents", json={"name": "a", "llm": {"backend": b["id"], "model": "m"}}).json()["id"]
        token = admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": [aid]}).json()["token"]
        url = f"{srv.user_url}/api/v1/agent/apps/{aid}/users/u/sessions"
        headers = {"Authorization": f"Bearer {token}"}
        r = httpx.post(url, json={"events": [EVENT] * 25_001}, headers=headers, timeout=60)
        assert r.status_code == 400 and "events" in r.json()["error"]
        done: dict[str, Any] = {}

        def long_import() -> None:
            done["r"] = httpx.post(url, json={"events": [EVENT] * 25_000}, headers=headers, timeout=300)

        worker = threading.Thread(target=long_import)
        worker.start()
        waits: list[float] = []
        with httpx.Client(timeout=30) as probe:
            while worker.is_alive():
                for base in (srv.user_url, srv.admin_url):
                    started = time.monotonic()
                    assert probe.get(f"{base}/api/v1/health").status_code == 200
                    waits.append(time.monotonic() - started)
                time.sleep(0.02)
        worker.join()
        assert done["r"].status_code == 200 and len(done["r"].json()["events"]) == 25_000
        assert len(waits) > 10 and max(waits) < 1.0, sorted(waits)[-5:]
