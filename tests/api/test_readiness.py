"""``/api/v1/health/ready`` (journey 7, a replica behind a load balancer): ok while the replica
reaches its PostgreSQL, 503 ``database_unavailable`` with ``Retry-After`` once it cannot — on both
ports, with no credentials and any Host — while ``/api/v1/health`` (liveness) stays ``ok``. A
request that needs the database meanwhile gets the same 503 (an outage to retry, not a 500 "internal
error" with a traceback per request in the log)."""

from __future__ import annotations

from pathlib import Path

import httpx

from magec.testing.server import ServerProcess
from magec.testing.services import start_postgres

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
    finally:
        if not stopped:
            pg.stop()
