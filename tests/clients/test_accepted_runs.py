"""A webhook's 202 survives a crash: the caller of a run whose process died is told to send again.

A clean stop is covered in test_webhooks.py (the drain); here the process is killed (SIGKILL), so
nothing of it runs after the kill: only what was written down before the 202 can help.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from magec.api.user.webhooks import sign, signature_headers
from magec.clients.accepted import AcceptedRuns, Orphan
from magec.clients.tables import accepted_runs
from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess
from tests.clients.test_webhooks import Receiver

W = "/api/v1/webhooks"


def _wait_for(receiver: Receiver, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.calls) < n:
        assert time.monotonic() < deadline, f"{len(receiver.calls)} callback(s) received, expected {n}"
        time.sleep(0.1)


def test_a_crashed_servers_accepted_runs_are_reported_by_the_next_start(tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        with FakeServer(OpenAIFake("slow")) as slow:
            slow.script(Reply(text="quick one"), Reply(text="never", delay=300))
            srv = ServerProcess(tmp_path / "d").start()
            try:
                admin = httpx.Client(base_url=srv.admin_url + "/api/v1/admin")
                b = admin.post("/backends", json={"name": "slow", "type": "openai", "url": slow.url}).json()
                aid = admin.post("/agents", json={"name": "a", "llm": {"backend": b["id"], "model": "m"}}).json()["id"]
                c = admin.post("/clients", json={"name": "hook", "type": "webhook", "allowedAgents": [aid], "config": {
                    "webhook": {"passthrough": True, "allowPrivateCallbacks": True, "signingSecret": "cb-secret-99"}}}).json()

                def post(session: str) -> str:
                    raw = json.dumps({"prompt": "go", "sessionId": session, "callbackUrl": receiver.url}).encode()
                    r = httpx.post(f"{srv.user_url}{W}/{c['id']}", content=raw, headers={
                        "Authorization": f"Bearer {c['token']}", "Content-Type": "application/json",
                        **signature_headers("cb-secret-99", raw)})
                    assert r.status_code == 202, r.text
                    return str(r.json()["runId"])

                finished = post("finished")
                _wait_for(receiver, 1)  # answered in full: nothing is left to tell after a crash
                crashed = post("crashed")
                deadline = time.monotonic() + 30
                while len(slow.calls()) < 2:  # the second run is with its provider
                    assert time.monotonic() < deadline, "the run never reached its provider"
                    time.sleep(0.05)
            finally:
                srv.kill()
            assert len(receiver.calls) == 1

            # the same data directory started again (new ports, same database and key)
            with ServerProcess(tmp_path / "d"):
                _wait_for(receiver, 2)
                time.sleep(1)  # a client checking that nothing more arrives (the finished run)
            headers, body = receiver.calls[1]
            told = json.loads(body)
            assert told["runId"] == crashed and told["runId"] != finished, told
            assert told["ok"] is False and told["code"] == "unavailable" and "send it again" in told["error"], told
            assert told["sessionId"] == "crashed" and told["clientId"] == c["id"]
            assert headers["x-magec-signature"] == sign("cb-secret-99", body, headers["x-magec-timestamp"])
            assert abs(time.time() - int(headers["x-magec-timestamp"])) < 60
            assert len(receiver.calls) == 2, [json.loads(b) for _, b in receiver.calls]

            # told once: a third start has nothing to tell
            with ServerProcess(tmp_path / "d"):
                time.sleep(1)  # a callback is a delivery to a third party: its absence needs a window
            assert len(receiver.calls) == 2
    finally:
        receiver.server.stop()


async def test_another_hosts_runs_are_claimed_once_their_lease_expires(tmp_path: Path, db_url: str) -> None:
    """Replicas on other machines: a run is claimed when its owner stopped renewing it (not
    before), by exactly one of two claiming replicas; a run being answered is never claimed.

    What is promised is a lease of ``ttl`` seconds from the last renewal, so each check holds the
    product to exactly that: "not before" is asserted while the first lease is provably running,
    and a renewed run may be claimed only if a renewal came more than ``ttl`` after the one before
    (a machine too loaded to renew in time; 0.5 s leases renewed between four database round trips
    failed here under load). The renewed run's first lease runs out well before the other one's:
    by the claim it has lived on renewals alone."""
    async with running_apps(tmp_path / "data", database_url=db_url, start_runtime=False) as apps:
        store = apps.ctx.store
        gone = AcceptedRuns(store.engine, store.cipher, owner="other-host:4242:aa", ttl=3.0)
        alive = AcceptedRuns(store.engine, store.cipher, owner="third-host:77:bb", ttl=1.5)
        r1, r2 = AcceptedRuns(store.engine, store.cipher, ttl=30), AcceptedRuns(store.engine, store.cipher, ttl=30)
        started = time.monotonic()
        await gone.accept("run-1", "client-1", "https://example.com/hook?token=abc", "s-1")
        await alive.accept("run-2", "client-1", "https://example.com/other", "s-2")
        renewed = time.monotonic()
        early = await r1.orphans()
        if time.monotonic() - started < alive.ttl:  # both leases still hold
            assert early == []
        raw = await _raw_callbacks(store.engine)
        assert "token=abc" not in raw and raw  # the stored callback URL is encrypted
        deadline = time.monotonic() + gone.ttl + 30
        claimed: list[Orphan] = [*early]
        longest_gap = 0.0  # between two renewals of the live owner's lease
        while not any(o.run_id == "run-1" for o in claimed):
            now = time.monotonic()
            longest_gap, renewed = max(longest_gap, now - renewed), now
            await alive.keep()  # this owner renews; the other stopped
            assert time.monotonic() < deadline, "the expired run was never claimed"
            claimed += [*await r1.orphans(), *await r2.orphans()]
            await asyncio.sleep(0.1)
        assert time.monotonic() - started >= gone.ttl  # not before its lease ran out
        assert [o for o in claimed if o.run_id == "run-1"] == [
            Orphan("run-1", "client-1", "https://example.com/hook?token=abc", "s-1")]  # by one of the two
        if any(o.run_id == "run-2" for o in claimed):
            assert longest_gap >= alive.ttl, f"a run renewed every {longest_gap:.2f} s at most was claimed"
        await (r1 if await r2.orphans() == [] else r2).done("run-1")
        assert "run-1" not in [o.run_id for o in await r1.orphans() + await r2.orphans()]  # answered: gone


async def _raw_callbacks(engine: Any) -> str:
    async with engine.connect() as conn:
        return " ".join(str(v) for v in (await conn.execute(sa.select(accepted_runs.c.callback))).scalars())
