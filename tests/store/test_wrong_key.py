"""Starting on a database written under another encryption key (journey 7: a second replica, or a
moved data dir, with a key of its own): ``magec serve`` refuses with one line that names the key it
tried and the setting that fixes it, and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from magec.testing.apps import running_apps
from magec.testing.services import free_port


def serve(tmp_path: Path, data_dir: Path, db: Path, key: str = "") -> subprocess.CompletedProcess[str]:
    config = tmp_path / f"{data_dir.name}.yaml"
    server = f"{{port: {free_port()}, adminPort: {free_port()}" + (f", encryptionKey: {key}" if key else "") + "}"
    config.write_text(f"server: {server}\ndataDir: {data_dir}\ndatabase: {{url: \"sqlite+aiosqlite:///{db}\"}}\n")
    return subprocess.run([sys.executable, "-m", "magec", "serve", "--config", str(config)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "400"})


async def test_a_replica_with_another_key_is_told_which_key_to_set(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    async with running_apps(tmp_path / "a", database_url=f"sqlite+aiosqlite:///{db}", encryption_key="key-one-1234") as apps:
        r = await apps.admin.post("/api/v1/admin/secrets", json={"name": "K", "key": "K1", "value": "sk-wrong-key-77"})
        assert r.status_code == 201, r.text

    r = serve(tmp_path, tmp_path / "b", db)  # no key configured: one is generated in its own data dir
    assert r.returncode == 2, r.stderr[-2000:]
    key_file = tmp_path / "b" / "encryption.key"
    assert f"error: a stored secret cannot be decrypted with the key in {key_file} (generated just now)" in r.stderr
    assert "set server.encryptionKey (MAGEC_ENCRYPTION_KEY) to that key" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "sk-wrong-key-77" not in r.stderr

    r = serve(tmp_path, tmp_path / "c", db, key="key-two-5678")
    assert r.returncode == 2, r.stderr[-2000:]
    assert "error: a stored secret cannot be decrypted with server.encryptionKey: this database was written" in r.stderr
    assert "key-two-5678" not in r.stderr
