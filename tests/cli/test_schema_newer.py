"""An older magec on a database a newer one upgraded (journey 7: a replica restarted mid-rollout, or
a rollback): ``magec serve`` and ``magec migrate`` stop with one line saying what happened and what
to run, exit 2 like any configuration error, and change nothing — not alembic's traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def magec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "magec", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "400", "MAGEC_ENCRYPTION_KEY": "newer-schema-key"})


def test_a_database_upgraded_by_a_newer_magec_is_named_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("dataDir: ./data\nserver: {port: 0, adminPort: 0}\n")
    assert magec("migrate", "--config", "config.yaml", cwd=tmp_path).returncode == 0
    db = sqlite3.connect(tmp_path / "data" / "magec.db")
    with db:  # what the next version's first start leaves behind: its own newest revision
        db.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    db.close()
    for command in ("serve", "migrate"):
        r = magec(command, "--config", "config.yaml", cwd=tmp_path)
        assert r.returncode == 2, (command, r.stdout, r.stderr)
        out = " ".join((r.stdout + r.stderr).split())
        assert "Traceback" not in out and "locate revision" not in out, out
        assert ("the database schema is at revision 0099_from_the_future, which this magec does not know: "
                "a newer magec upgraded it") in out, out
    db = sqlite3.connect(tmp_path / "data" / "magec.db")
    assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0099_from_the_future",)]
    db.close()
