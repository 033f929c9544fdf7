"""Two replicas preparing one PostgreSQL at the same moment (journey 7: a scale-out's first start, or
every replica restarted onto a version with a new migration): both ``magec migrate`` runs succeed
and leave the schema at head, and two ``magec serve`` replicas started together on a new database
both come up. The overlap is made certain, not left to timing: the test holds a lock the runs need
(PostgreSQL's type catalog, which every ``CREATE TABLE`` writes; the config table) until both wait
on the database, then lets them go together."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx

from magec.testing.server import ServerProcess
from magec.testing.services import Postgres


async def wait_for_two_waiters(watcher: asyncpg.Connection, db: str, alive: Callable[[], bool]) -> None:
    """Until two sessions of ``db`` wait on a lock (each run is blocked by the test's)."""
    deadline = time.monotonic() + 120
    while True:
        waiting = await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", db)
        if waiting >= 2:
            return
        assert alive(), "a run ended before both reached the database"
        assert time.monotonic() < deadline, "the two runs never both reached the database"
        await asyncio.sleep(0.1)


def start_migrate(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "magec", "migrate", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=config.parent,
                            env={**os.environ, "COLUMNS": "400"})


async def test_two_replicas_migrating_one_postgres_at_once_both_succeed(tmp_path: Path, postgres: Postgres) -> None:
    db = postgres.create_database()
    url = postgres.url(db)
    configs = []
    for name in ("one", "two"):  # two machines: each its own dataDir, one database and key
        (tmp_path / name).mkdir()
        config = tmp_path / name / "config.yaml"
        config.write_text(f"server: {{encryptionKey: concurrent-key-1}}\ndataDir: ./data\ndatabase: {{url: \"{url}\"}}\n")
        configs.append(config)

    holder = await asyncpg.connect(postgres.url(db, driver="postgresql"))
    watcher = await asyncpg.connect(postgres.url(db, driver="postgresql"))
    runs: list[subprocess.Popen[str]] = []
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("LOCK TABLE pg_catalog.pg_type IN SHARE MODE")
        runs = [start_migrate(c) for c in configs]
        await wait_for_two_waiters(watcher, db, lambda: all(r.poll() is None for r in runs))
        await tx.rollback()
        outs = [await asyncio.to_thread(r.communicate, timeout=180) for r in runs]
    finally:
        await holder.close()
        await watcher.close()
        for r in runs:
            if r.poll() is None:
                r.kill()
    for r, (out, err) in zip(runs, outs, strict=True):
        assert r.returncode == 0, err[-2000:]
        assert "at revision" in out + err, out + err
    conn = await asyncpg.connect(postgres.url(db, driver="postgresql"))
    try:  # one schema, at the head both runs printed
        heads = [r["version_num"] for r in await conn.fetch("SELECT version_num FROM alembic_version")]
    finally:
        await conn.close()
    assert heads and all(f"at revision {','.join(sorted(heads))}" in out + err for out, err in outs), (heads, outs)


async def test_two_replicas_starting_at_once_on_a_new_database_both_serve(tmp_path: Path, postgres: Postgres) -> None:
    db = postgres.create_database()
    url = postgres.url(db)
    (tmp_path / "prep").mkdir()
    config = tmp_path / "prep" / "config.yaml"
    config.write_text(f"server: {{encryptionKey: e2e-key}}\ndataDir: ./data\ndatabase: {{url: \"{url}\"}}\n")
    prep = start_migrate(config)
    out, err = await asyncio.to_thread(prep.communicate, timeout=180)  # the tables, no config row yet
    assert prep.returncode == 0, err
    replicas = [ServerProcess(tmp_path / "one", database_url=url, admin_password="pw"),
                ServerProcess(tmp_path / "two", database_url=url, admin_password="pw")]
    holder = await asyncpg.connect(postgres.url(db, driver="postgresql"))
    watcher = await asyncpg.connect(postgres.url(db, driver="postgresql"))
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("LOCK TABLE config_state IN ACCESS EXCLUSIVE MODE")
        starts = [asyncio.create_task(asyncio.to_thread(p.start, 180)) for p in replicas]
        await wait_for_two_waiters(watcher, db, lambda: not any(t.done() for t in starts))
        await tx.rollback()
        await asyncio.gather(*starts)
        for p in replicas:  # both serve, on one configuration
            ready = httpx.get(f"{p.user_url}/api/v1/health/ready", timeout=10)
            assert ready.status_code == 200, ready.text
            settings = httpx.get(f"{p.admin_url}/api/v1/admin/settings", headers={"Authorization": "Bearer pw"})
            assert settings.status_code == 200, settings.text
    finally:
        await holder.close()
        await watcher.close()
        for p in replicas:
            p.stop()
