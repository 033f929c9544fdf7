"""``magec migrate`` after ``database.url`` changed from the embedded SQLite (journey 7): the data
moves with it — resources, secrets, settings, sessions — and a second run changes nothing; started
without it, ``magec serve`` says where the data is."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess
from magec.testing.services import Postgres

from .helpers import U, admin_view, populate

KEY = "move-encryption-key-1"


def migrate(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "magec", "migrate", "--config", str(config)],
                          capture_output=True, text=True, timeout=180, cwd=config.parent,
                          env={**os.environ, "COLUMNS": "400"})


async def test_migrate_moves_the_embedded_sqlite_into_postgres(
    tmp_path: Path, postgres: Postgres, provider: FakeServer
) -> None:
    data = tmp_path / "data"
    async with running_apps(data, encryption_key=KEY) as apps:  # the default: SQLite in dataDir
        made = await populate(apps, provider.url)
        auth = {"Authorization": f"Bearer {made['token']}"}
        r = await apps.user.post(f"{U}/run", headers=auth, json={
            "appName": made["plain"]["id"], "userId": "u1", "sessionId": "s-move",
            "newMessage": {"role": "user", "parts": [{"text": "hello"}]}})
        assert r.status_code == 200, r.text
        before = await admin_view(apps)

    pg_url = postgres.url(postgres.create_database())
    config = tmp_path / "config.yaml"
    config.write_text(f"server: {{encryptionKey: {KEY}}}\ndataDir: {data}\ndatabase: {{url: \"{pg_url}\"}}\n")
    r = migrate(config)
    assert r.returncode == 0, r.stderr
    assert f"copied from {(data / 'magec.db').resolve()}: " in r.stderr, r.stderr
    assert "1 clients" in r.stderr and "2 agents" in r.stderr, r.stderr
    # the rows are streamed with a progress bar that ends at every copied row
    rows = re.search(r"and (\d+) rows of conversation data", r.stderr)
    bar = re.search(r"copying rows\b.*?(\d+)/(\d+)", r.stderr)
    assert rows and bar and int(rows[1]) > 0, r.stderr
    assert bar[1] == bar[2] == rows[1], r.stderr
    assert "sk-backup-secret-1" not in r.stdout + r.stderr

    async with running_apps(data, database_url=pg_url, encryption_key=KEY) as apps:
        assert await admin_view(apps) == before
        auth = {"Authorization": f"Bearer {made['token']}"}  # the existing client token still works
        r = await apps.user.get(f"{U}/apps/{made['plain']['id']}/users/u1/sessions/s-move", headers=auth)
        assert r.status_code == 200, r.text
        assert any(p.get("text") == "hello" for e in r.json()["events"] for p in (e.get("content") or {}).get("parts", []))

    r = migrate(config)  # the target has data now: never overwritten
    assert r.returncode == 0, r.stderr
    assert "was not copied: the configured database already holds data" in r.stderr, r.stderr


async def test_serve_on_an_empty_new_database_says_the_data_is_in_sqlite(
    tmp_path: Path, postgres: Postgres, provider: FakeServer
) -> None:
    data = tmp_path / "data"
    async with running_apps(data, encryption_key="e2e-key") as apps:  # ServerProcess's key
        await populate(apps, provider.url)
    with ServerProcess(data, database_url=postgres.url(postgres.create_database())) as server:
        assert server.log_path is not None
        lines = [json.loads(x) for x in server.log_path.read_text().splitlines() if x.startswith("{")]
    warned = [x["msg"] for x in lines if "run `magec migrate` to copy them" in x["msg"]]
    assert warned and str((data / "magec.db").resolve()) in warned[0], lines
