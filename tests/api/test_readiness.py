"""``/api/v1/health/ready`` (journey 7, a replica behind a load balancer): ok while the replica
reaches its PostgreSQL, 503 ``database_unavailable`` with ``Retry-After`` once it cannot — on both
ports, with no credentials and any Host — while ``/api/v1/health`` (liveness) stays ``ok``. A
request that needs the database meanwhile gets the same 503 (an outage to retry, not a 500 "internal
error" with a traceback per request in the log). A replica whose pool is exhausted is overloaded,
not cut off from its database, and says so; a failure that cannot be the database's connection is
answered without checking it."""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from magec.server import user_app
from magec.testing.apps import Apps, running_apps
from magec.testing.server import ServerProcess
from magec.testing.services import Postgres, start_postgres

PASSWORD = "ready-admin-pw-1"


def test_ready_follows_the_database_and_liveness_does_not(tmp_path: Path) -> None:
    pg = start_postgres()  # its own: this test stops it
    stopped = False
    try:
        with ServerProcess(tmp_path / "data", database_url=pg.url(pg.create_database()),
                           admin_password=PASSWORD) as server:
            probe = {"Host": "10.1.2.3"}  # a balancer probes by address, without a token
            for base in (server.user_url, server.admin_url):
                r = httpx.get(f"{base}/api/v1/health/ready", headers=probe, timeout=10)
                assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text
            pg.stop()  # returns once PostgreSQL is down: the very next probe must say so
            stopped = True
            r = httpx.get(f"{server.user_url}/api/v1/health/ready", headers=probe, timeout=10)
            assert r.status_code == 503, r.text
            assert r.json() == {"error": "magec's database cannot be reached", "code": "database_unavailable"}
            assert r.headers["retry-after"] == "5"
            for _ in range(3):  # a balancer probes both ports every few seconds
                r = httpx.get(f"{server.admin_url}/api/v1/health/ready", headers=probe, timeout=10)
                assert r.status_code == 503 and r.json()["code"] == "database_unavailable", r.text
            for base in (server.user_url, server.admin_url):  # liveness: the process is fine
                r = httpx.get(f"{base}/api/v1/health", headers=probe, timeout=10)
                assert r.status_code == 200 and r.text == "ok"
            admin = {"Authorization": f"Bearer {PASSWORD}"}
            r = httpx.get(f"{server.admin_url}/api/v1/admin/agents", headers=admin, timeout=20)
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "database_unavailable" and r.headers["retry-after"] == "5"
            r = httpx.post(f"{server.admin_url}/api/v1/admin/commands", headers=admin, timeout=20,
                           json={"name": "n", "prompt": "p"})
            assert r.status_code == 503 and r.json()["code"] == "database_unavailable", r.text
            assert server.log_path is not None
            log = server.log_path.read_text()
            assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]
            assert "POST /api/v1/admin/commands failed: magec's database cannot be reached" in log
            # the outage's first line, not one per probe
            assert log.count("readiness: database unreachable") == 1, log[-3000:]
    finally:
        if not stopped:
            pg.stop()


@pytest.fixture
async def tiny_pool(tmp_path: Path, postgres: Postgres) -> AsyncIterator[Apps]:
    """A replica whose pool holds two connections; its requests wait the default 10 s for one."""
    async with running_apps(tmp_path / "data", database_url=postgres.url(postgres.create_database()),
                            config={"db_pool_size": 2}) as apps:
        yield apps


def _overloaded(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "overloaded" and "database.poolSize" in r.json()["error"], r.text
    assert r.headers["retry-after"] == "1"


async def test_an_exhausted_pool_reads_as_overloaded_not_as_a_database_outage(
    tiny_pool: Apps, caplog: pytest.LogCaptureFixture
) -> None:
    apps = tiny_pool
    caplog.set_level(logging.INFO, logger="magec.api.health")
    r = await apps.user.get("/api/v1/health/ready")
    assert r.status_code == 200, r.text
    engine = apps.ctx.store.engine
    # every pool connection taken by work that outlasts the probe (the database itself is fine)
    async with engine.connect(), engine.connect():
        for client in (apps.user, apps.admin):
            _overloaded(await client.get("/api/v1/health/ready"))
    assert caplog.text.count("readiness: overloaded") == 1, caplog.text  # on the change, not per probe
    assert "database unreachable" not in caplog.text
    r = await apps.user.get("/api/v1/health/ready")
    assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text
    assert "readiness: ok again after" in caplog.text, caplog.text


async def test_a_failure_that_is_not_the_database_is_answered_without_checking_it(tiny_pool: Apps) -> None:
    """A request failing on a full disk is a 500 at once, even while a check of the database would
    wait for a connection; one failing on a reset connection while the pool is exhausted is told
    ``overloaded``, not that the database is unreachable."""
    app = user_app(tiny_pool.ctx)

    async def disk_full() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def reset() -> None:
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    app.router.routes[:0] = [APIRoute("/t/disk-full", disk_full), APIRoute("/t/reset", reset)]
    engine = tiny_pool.ctx.store.engine
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://user") as client:
        async with engine.connect(), engine.connect():
            started = time.monotonic()
            r = await client.get("/t/disk-full")
            assert r.status_code == 500 and "request id" in r.json()["error"], r.text
            assert time.monotonic() - started < 1.0  # not after a 2 s wait for a connection to check with
            r = await client.get("/t/reset")
            _overloaded(r)
        # connections free again: a client that comes back when told (Retry-After) finds the
        # "overloaded" verdict (kept a second) over, and a reset connection elsewhere is a plain 500
        await asyncio.sleep(float(r.headers["retry-after"]))
        r = await client.get("/t/reset")
        assert r.status_code == 500 and "request id" in r.json()["error"], r.text
