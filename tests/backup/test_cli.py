"""``magec backup`` / ``magec restore`` against real ``magec serve`` processes (while they run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

A = "/api/v1/admin"


def magec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "magec", *args], capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def test_backup_and_restore_between_running_servers(tmp_path: Path, provider: FakeServer) -> None:
    with ServerProcess(tmp_path / "a", admin_password="pw-a") as a, \
            ServerProcess(tmp_path / "b", admin_password="pw-b") as b:
        ha = httpx.Client(base_url=a.admin_url, headers={"Authorization": "Bearer pw-a"}, timeout=60)
        hb = httpx.Client(base_url=b.admin_url, headers={"Authorization": "Bearer pw-b"}, timeout=60)
        backend = ha.post(f"{A}/backends", json={"name": "F", "type": "openai", "url": provider.url,
                                                 "apiKey": "sk-cli-1"}).json()
        agent = ha.post(f"{A}/agents", json={"name": "Cli", "llm": {"backend": backend["id"], "model": "m"}}).json()
        assert ha.post(f"{A}/secrets", json={"name": "S", "key": "K", "value": "v-cli-secret"}).status_code == 201

        out = tmp_path / "x.tar.gz"
        r = magec("backup", "--out", str(out), "--include", "sessions", "--config", str(a.data_dir / "config.yaml"))
        assert r.returncode == 0, r.stderr
        assert out.is_file() and out.stat().st_mode & 0o777 == 0o600
        assert "backup written to" in r.stderr

        r = magec("restore", str(out), "--dry-run", "--config", str(b.data_dir / "config.yaml"))
        assert r.returncode == 0, r.stderr
        assert "dry run" in r.stderr and "agents" in r.stderr
        assert hb.get(f"{A}/agents").json() == []

        r = magec("restore", str(out), "--config", str(b.data_dir / "config.yaml"), "--password", "wrong")
        assert r.returncode == 1 and "nothing was changed" in r.stderr, r.stderr
        # a refused password is said in the command's terms, not as an HTTP header to send
        assert "the server refused the admin password from --password" in r.stderr, r.stderr
        r = magec("backup", "--out", str(tmp_path / "y.tar.gz"), "--url", b.admin_url)
        assert r.returncode == 1 and "Authorization" not in r.stderr, r.stderr
        assert "the server asks for its admin password and none was given: pass --password" in r.stderr, r.stderr
        assert not (tmp_path / "y.tar.gz").exists()

        r = magec("restore", str(out), "--config", str(b.data_dir / "config.yaml"))
        assert r.returncode == 0, r.stderr
        assert "restored" in r.stderr
        assert [x["id"] for x in hb.get(f"{A}/agents").json()] == [agent["id"]]
        # live in the running server: a turn on the restored agent, no restart
        run = httpx.post(f"{b.user_url}/api/v1/agent/run", json={
            "appName": agent["id"], "userId": "u", "sessionId": "s",
            "newMessage": {"parts": [{"text": "hi"}]}}, timeout=60)
        assert run.status_code == 200 and "fake-llm says: hi" in run.text, run.text


def test_commands_say_when_no_server_runs(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("server: {adminPort: 9}\n")
    r = magec("backup", "--out", str(tmp_path / "x.tar.gz"), "--config", str(cfg))
    assert r.returncode == 1 and "is `magec serve` running (with this config)?" in r.stderr, r.stderr
    assert "the Admin API at http://127.0.0.1:9 " in r.stderr, r.stderr  # where it looked
