"""SIGKILL in the middle of a burst of writes: every 2xx write survives, the store stays consistent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from magec.testing.server import ServerProcess

A = "/api/v1/admin"


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_sigkill_during_write_burst(tmp_path: Path, engine: str, request: pytest.FixtureRequest) -> None:
    url = ""
    if engine == "postgres":
        pg = request.getfixturevalue("postgres")
        url = pg.url(pg.create_database())
    server = ServerProcess(tmp_path / "data", database_url=url).start()
    acknowledged: list[tuple[str, str]] = []
    try:
        async with httpx.AsyncClient(base_url=server.admin_url, timeout=10) as client:
            backend = (await client.post(f"{A}/backends", json={"name": "base", "type": "openai"})).json()
            acknowledged.append(("backends", backend["id"]))

            async def writer(n: int) -> None:
                for i in range(1000):
                    body = {"name": f"agent-{n}-{i}", "llm": {"backend": backend["id"], "model": "m"}}
                    try:
                        r = await client.post(f"{A}/agents", json=body)
                    except httpx.HTTPError:
                        return
                    if r.status_code == 201:
                        acknowledged.append(("agents", r.json()["id"]))

            tasks = [asyncio.create_task(writer(n)) for n in range(8)]
            while len(acknowledged) < 60:
                await asyncio.sleep(0.01)
            server.kill()
            await asyncio.gather(*tasks)
    finally:
        server.kill()
    assert len(acknowledged) >= 60
    restarted = ServerProcess(tmp_path / "data", database_url=url, port=server.port, admin_port=server.admin_port)
    with restarted.start():
        async with httpx.AsyncClient(base_url=restarted.admin_url, timeout=10) as client:
            agents = {a["id"]: a for a in (await client.get(f"{A}/agents")).json()}
            for kind, rid in acknowledged:
                if kind == "agents":
                    assert rid in agents, f"acknowledged write {rid} lost"
            assert all(a["llm"]["backend"] == acknowledged[0][1] for a in agents.values())
            dead = (await client.get(f"{A}/integrity/dead-references")).json()["deadReferences"]
            assert dead == []
            overview = (await client.get(f"{A}/overview")).json()
            # every committed write bumped the epoch exactly once
            assert overview["epoch"] == overview["counts"]["agents"] + overview["counts"]["backends"]
            r = await client.post(f"{A}/agents", json={"name": "after-restart"})
            assert r.status_code == 201
