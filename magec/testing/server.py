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
    #: 0: a free port is picked (and picked again if another process takes it before the server
    #: binds it: see :meth:`start`)
    port: int = 0
    admin_port: int = 0
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
    _picked: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if not self.port and not self.admin_port:
            self._picked = True
        self.port = self.port or free_port()
        self.admin_port = self.admin_port or free_port()

    @property
    def user_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, timeout: float = 90.0) -> ServerProcess:
        """Start the server and wait until both ports answer, from this very process.

        A free port is closed again before the child binds it: another process (another test run
        on this machine) may take it meanwhile, and its server would answer the health check. So
        the ports must be held by this server's own processes, and when its bind failed on a
        port another process took, picked ports are picked again (three tries)."""
        for _ in range(3):
            try:
                return self._start_once(timeout)
            except _PortTaken as taken:
                if not self._picked:
                    raise RuntimeError(f"magec serve could not bind its port:\n{taken}") from None
                self.port, self.admin_port = free_port(), free_port()
        raise RuntimeError("magec serve found its ports taken three times")

    def _start_once(self, timeout: float) -> ServerProcess:
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
        logged_before = log.tell()
        self.proc = subprocess.Popen(
            [*self.wrapper, sys.executable, "-m", "magec", *self.command, "--config", str(cfg_path), *self.extra_args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            # a wrapper gets a process group of its own, signalled whole (see _signal)
            start_new_session=bool(self.wrapper),
        )
        deadline = time.monotonic() + timeout
        # one client for every probe: a fresh one per request (``httpx.get``) builds a TLS context
        # first, ~17 ms of this process's CPU per probe while the server it waits for starts on
        # the same cores; a refused probe costs ~0.1 ms, so probing often costs nothing
        with httpx.Client(timeout=0.5) as probe:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    with open(self.log_path, "rb") as f:
                        f.seek(logged_before)
                        text = f.read().decode(errors="replace")
                    if "address already in use" in text.lower():
                        raise _PortTaken(text[-3000:])
                    raise RuntimeError(f"magec serve exited early:\n{text[-3000:]}")
                try:
                    if (
                        probe.get(f"{self.admin_url}/api/v1/health").status_code == 200
                        and probe.get(f"{self.user_url}/api/v1/health").status_code == 200
                        and holds_port(self.proc.pid, self.port) and holds_port(self.proc.pid, self.admin_port)
                    ):
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
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


class _PortTaken(Exception):
    """The server could not bind a port: another process took it after it was picked."""


def holds_port(pid: int, port: int) -> bool:
    """Whether ``pid`` or one of its descendants listens on TCP ``port`` (from /proc; True where
    there is no /proc to ask)."""
    if not Path("/proc/self/net/tcp").exists():
        return True
    listening = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            return False
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                listening.add(f[9])
    todo, seen = [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for fd in Path(f"/proc/{p}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in listening:
                    return True
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return False
