"""An agent's stored ``llm.headers`` (and a memory provider's ``embedding.headers``) go only where
they were saved for, even when the backend they name moves.

Those values are bound to the backend's *id*: changing the agent's backend needs them typed again.
But the backend record itself could be pointed elsewhere — a backend without a stored key of its
own had nothing bound to its URL — and the next turn sent the agent's write-only header to the new
URL: anyone with the Admin API (or an archive whose backend record was edited: it holds no
encrypted value, so it needs no seal) read the secret back at a server of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.backup.helpers import members, restore, tar_gz

A = "/api/v1/admin"
SECRET = "hdr-secret-0123456789"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeServer, FakeServer]]:
    with FakeServer(OpenAIFake("gateway")) as real, FakeServer(OpenAIFake("attacker")) as attacker:
        yield real, attacker


async def _setup(apps: Apps, url: str) -> tuple[dict[str, str], str, str]:
    backend = (await apps.admin.post(f"{A}/backends", json={"name": "Gateway", "type": "openai", "url": url})).json()
    r = await apps.admin.post(f"{A}/agents", json={"name": "Helper", "llm": {
        "backend": backend["id"], "model": "m-1", "headers": {"X-Api-Key": SECRET}}})
    assert r.status_code == 201, r.text
    r2 = await apps.admin.post(f"{A}/memory", json={"name": "Memories", "type": "sqlite", "category": "longterm",
                                                     "embedding": {"backend": backend["id"], "model": "e-1",
                                                                   "headers": {"X-Api-Key": SECRET}}})
    assert r2.status_code == 201, r2.text
    return backend, r.json()["id"], r2.json()["id"]


async def _turn(apps: Apps, agent: str) -> None:
    await apps.user.post("/api/v1/agent/run", json={"appName": agent, "userId": "u", "sessionId": "s",
                                                    "newMessage": {"role": "user", "parts": [{"text": "hi"}]}})


async def test_moving_the_backend_needs_the_agents_headers_typed_again(
        tmp_path: Path, servers: tuple[FakeServer, FakeServer]) -> None:
    real, attacker = servers
    attacker.clear()
    async with running_apps(tmp_path / "d") as apps:
        backend, agent, memory = await _setup(apps, real.url)
        for change in ({"url": attacker.url}, {"type": "anthropic"}):
            r = await apps.admin.put(f"{A}/backends/{backend['id']}", json={**backend, **change})
            assert r.status_code == 400, r.text
            field = next(iter(change))
            assert r.json()["field"] == field and ("'Helper'" in r.json()["error"] or "'Memories'" in r.json()["error"]), r.text
        await _turn(apps, agent)
        assert not attacker.requests and real.requests  # nothing moved: the header still goes to the gateway
        # headers typed as ${SECRET} references follow the reference, not a stored value: they move
        # with the backend; so do headers typed again. The memory provider's are bound the same way
        r = await apps.admin.put(f"{A}/agents/{agent}", json={"name": "Helper", "llm": {
            "backend": backend["id"], "model": "m-1", "headers": {"X-Api-Key": "${GW_KEY}"}}})
        assert r.status_code == 200, r.text
        r = await apps.admin.put(f"{A}/backends/{backend['id']}", json={**backend, "url": attacker.url})
        assert r.status_code == 400 and "'Memories'" in r.json()["error"], r.text  # the agent's no longer hold it
        r = await apps.admin.put(f"{A}/memory/{memory}", json={
            "name": "Memories", "type": "sqlite", "category": "longterm",
            "embedding": {"backend": backend["id"], "model": "e-1", "headers": {"X-Api-Key": "${GW_KEY}"}}})
        assert r.status_code == 200, r.text
        r = await apps.admin.put(f"{A}/backends/{backend['id']}", json={**backend, "url": attacker.url})
        assert r.status_code == 200, r.text
        await _turn(apps, agent)
    assert attacker.requests and all(SECRET not in json.dumps(dict(q.headers)) for q in attacker.requests)


async def test_an_edited_archive_cannot_move_the_backend_under_an_agents_headers(
        tmp_path: Path, servers: tuple[FakeServer, FakeServer]) -> None:
    real, attacker = servers
    attacker.clear()
    async with running_apps(tmp_path / "d") as apps:
        backend, agent, memory = await _setup(apps, real.url)
        files = members((await apps.admin.get(f"{A}/settings/backup")).content)
        rows = json.loads(files["resources/backends.json"])
        rows[0]["data"]["url"] = attacker.url  # no encrypted value in it: no seal asked for
        files["resources/backends.json"] = json.dumps(rows).encode()
        for query in ("?dryRun=true", ""):
            r = await restore(apps, tar_gz(files), query)
            assert r.status_code == 400, r.text
            assert r.json()["field"] in (f"agents[{agent}].llm.headers.X-Api-Key",
                                         f"memoryProviders[{memory}].embedding.headers.X-Api-Key"), r.text
        await _turn(apps, agent)
    assert not attacker.requests
