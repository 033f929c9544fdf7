"""The worker supervisor and its leases: a failing worker is reported and restarted with backoff
while the other clients' workers keep running; a lease is exclusive, renewed by its holder, taken
over after expiry and released at once on a clean stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from magec.clients.lease import Leases
from magec.clients.supervisor import Supervisor, lease_name
from magec.clients.workers import WorkerContext
from magec.testing.apps import running_apps
from tests.clients.helpers import A, command


async def _until(pred: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_lease_is_exclusive_renewed_taken_over_and_released(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "data", start_runtime=False) as apps:
        engine = apps.ctx.store.engine
        a, b = Leases(engine, "replica-a", ttl=1.0), Leases(engine, "replica-b", ttl=1.0)
        assert await a.acquire("job") is True
        assert await b.acquire("job") is False
        await asyncio.sleep(0.6)
        assert await a.acquire("job") is True  # renewed: still a's after more than the first TTL
        await asyncio.sleep(0.6)
        assert await b.acquire("job") is False
        await asyncio.sleep(1.1)  # a died (no renewal): expired
        assert await b.acquire("job") is True
        assert await a.acquire("job") is False
        holder = await a.holder("job")
        assert holder is not None and holder[0] == "replica-b"
        await b.release("job")
        assert await a.acquire("job") is True  # released: no wait for the expiry


async def test_failing_worker_is_reported_and_restarted_others_unaffected(tmp_path: Path) -> None:
    starts: dict[str, int] = {}

    async def worker(ctx: WorkerContext) -> None:
        starts[ctx.client_id] = starts.get(ctx.client_id, 0) + 1
        if ctx.config["cron"]["commandId"] == bad_cmd:
            ctx.status.connected("@flaky")
            raise RuntimeError("platform down")
        ctx.status.connected("@fine")
        await asyncio.Event().wait()

    async with running_apps(tmp_path / "data", start_clients=False) as apps:
        good_cmd = await command(apps, "good")
        bad_cmd = await command(apps, "bad")
        ids = {}
        for name, cmd in (("good", good_cmd), ("bad", bad_cmd)):
            r = await apps.admin.post(f"{A}/clients", json={"name": name, "type": "cron", "config": {
                "cron": {"schedule": "@daily", "commandId": cmd}}})
            ids[name] = r.json()["id"]
        sup = Supervisor(apps.ctx, {"cron": worker}, owner="me", ttl=3)
        await sup.start()
        try:
            await _until(lambda: starts.get(ids["bad"], 0) >= 2)  # restarted after a 1 s backoff
            bad = await sup.status_view(ids["bad"], "cron", True)
            assert bad is not None
            assert bad["lastError"] == "platform down" and bad["connected"] is False and bad["restarts"] >= 1
            good = await sup.status_view(ids["good"], "cron", True)
            assert good is not None
            assert good["connected"] is True and good["identity"] == "@fine" and good["owner"] == "me"
            assert starts[ids["good"]] == 1
            # a change to one client restarts only that client's worker
            r = await apps.admin.put(f"{A}/clients/{ids['good']}", json={"name": "good", "type": "cron", "config": {
                "cron": {"schedule": "@hourly", "commandId": good_cmd}}})
            assert r.status_code == 200
            await _until(lambda: starts[ids["good"]] == 2)
            # a disabled client's worker stops and its lease is released at once
            r = await apps.admin.put(f"{A}/clients/{ids['good']}", json={"name": "good", "type": "cron", "enabled": False,
                                                                         "config": {"cron": {"schedule": "@hourly",
                                                                                             "commandId": good_cmd}}})
            await _until(lambda: not sup.runs_here(ids["good"]))
            deadline = time.monotonic() + 5  # released right after the worker stopped, not at expiry
            while await sup.leases.holder(lease_name(ids["good"])) is not None:
                assert time.monotonic() < deadline, "lease not released"
                await asyncio.sleep(0.05)
            assert starts[ids["bad"]] >= 2 and sup.runs_here(ids["bad"])  # the failing one keeps retrying
        finally:
            await sup.close()
        assert await sup.leases.holder(lease_name(ids["bad"])) is None  # released on close
