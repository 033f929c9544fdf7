"""Cron run history is bounded, as an operator sees it: an every-second job with ``keepRuns: 2``
keeps two rows in the database while the Admin API's ``runs`` goes on counting every run and
``lastRun`` / ``lastResult`` stay the newest run's; deleting the client deletes its runs; a bad
``keepRuns`` is a 400 naming it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.clients.helpers import A, agent, backend, client, command


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("keptllm")) as s:
        yield s


def stored_runs(data: Path, cid: str) -> int:
    """What ``sqlite3 data/magec.db "select count(*) from client_runs …"`` says."""
    with sqlite3.connect(data / "magec.db") as db:
        return int(db.execute("SELECT count(*) FROM client_runs WHERE client_id = ?", (cid,)).fetchone()[0])


async def status(apps: Apps, cid: str) -> dict[str, Any]:
    r = await apps.admin.get(f"{A}/clients/{cid}")
    assert r.status_code == 200, r.text
    return dict(r.json()["status"] or {})


async def test_every_second_job_keeps_its_latest_runs_and_counts_all(tmp_path: Path, llm: FakeServer) -> None:
    data = tmp_path / "data"
    async with running_apps(data) as apps:
        bid = await backend(apps, llm.url)
        a = await agent(apps, bid)
        cmd = await command(apps, "KEPT-MARKER tick")
        c = await client(apps, "cron", [a], {"cron": {"schedule": "@every 1s", "commandId": cmd, "keepRuns": 2}})
        cid = c["id"]
        deadline = time.monotonic() + 30
        st = await status(apps, cid)
        while not (st.get("runs", 0) >= 5 and st.get("lastOk") is not None):
            assert time.monotonic() < deadline, f"the job did not run 5 times: {st}"
            await asyncio.sleep(0.2)
            st = await status(apps, cid)
        # every run counted, two kept; the status still names the newest run and its answer
        assert st["runs"] >= 5 and stored_runs(data, cid) <= 2
        assert st["lastResult"] == "keptllm says: KEPT-MARKER tick" and st["lastRun"]
        listed = await apps.admin.get(f"{A}/clients")
        assert [x["status"]["runs"] for x in listed.json() if x["id"] == cid][0] >= 5
        # a bad keepRuns is refused, naming the field
        r = await apps.admin.put(f"{A}/clients/{cid}", json={**c, "config": {"cron": {
            "schedule": "@every 1s", "commandId": cmd, "keepRuns": 0}}})
        assert r.status_code == 400 and r.json()["field"] == "config.cron.keepRuns", r.text
        # deleted: its runs go with it
        r = await apps.admin.delete(f"{A}/clients/{cid}")
        assert r.status_code == 204
        assert stored_runs(data, cid) == 0
