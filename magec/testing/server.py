"""Run a real ``magec serve`` subprocess on free loopback ports (for end-to-end and UI tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from magec.testing.services import free_port


@dataclass
class ServerProcess:
    data_dir: Path
    database_url: str = ""
    admin_password: str = ""
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    #: the command before ``--config`` (``[]``: none, as Magec's binary is started)
    command: list[str] = field(default_factory=lambda: ["serve"])
    #: more ``server:`` settings for config.yaml (e.g. ``{"adminHost": "0.0.0.0"}``)
    server_config: dict[str, object] = field(default_factory=dict)
    #: more top-level config.yaml sections (e.g. ``{"limits": {"maxRuns": 50}}``)
    config: dict[str, object] = field(default_factory=dict)
    #: more environment variables for the process
    env: dict[str, str] = field(default_factory=dict)
    #: a command the server runs under (e.g. ``["unshare", "--pid", "--fork", "--kill-child=SIGTERM"]``:
    #: a process of this host name in its own PID namespace, as a container with host networking)
    wrapper: list[str] = field(default_factory=list)
    #: ``log.level`` of the server (``debug`` to prove nothing secret is logged even then)
    log_level: str = "info"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def user_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, timeout: float = 90.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "server": {
                "host": "127.0.0.1",
                "port": self.port,
                "adminPort": self.admin_port,
                "adminPassword": self.admin_password,
                "encryptionKey": "e2e-key",
                **self.server_config,
            },
            "dataDir": str(self.data_dir),
            "log": {"level": self.log_level, "format": "json"},
            **self.config,
        }
        if self.database_url:
            config["database"] = {"url": self.database_url}
        cfg_path = self.data_dir / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(config))
        self.log_path = self.data_dir / "server.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            [*self.wrapper, sys.executable, "-m", "magec", *self.command, "--config", str(cfg_path), *self.extra_args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            # a wrapper gets a process group of its own, signalled whole (see _signal)
            start_new_session=bool(self.wrapper),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"magec serve exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if (
                    httpx.get(f"{self.admin_url}/api/v1/health", timeout=0.5).status_code == 200
                    and httpx.get(f"{self.user_url}/api/v1/health", timeout=0.5).status_code == 200
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("magec serve did not become healthy in time")

    def _signal(self, sig: int) -> None:
        """``sig`` to the server. Under a wrapper, to its whole process group: ``unshare --fork``
        ignores SIGTERM while it waits for its child, so the server heard it only once ``stop``
        had waited 20 s and killed the wrapper."""
        assert self.proc is not None
        if self.wrapper:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        else:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown at all."""
        if self.proc and self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode if self.proc else None

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
