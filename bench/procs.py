"""Processes under test: CPU pinning, the mock providers, ``magec serve``, the LiteLLM proxy, and
a resource monitor (RSS, CPU seconds) for a process tree."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from magec.testing.server import ServerProcess
from magec.testing.services import free_port

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VENV = ROOT / ".bench-venv" / "litellm"
ALL_CPUS = frozenset(os.sched_getaffinity(0))  # before any pinning


@dataclass(frozen=True)
class Cores:
    """Where each side runs. With >= 2 CPUs: load generator + mocks on one, the server on another."""

    load: set[int]
    server: set[int]
    pinned: bool

    @classmethod
    def detect(cls) -> Cores:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2:
            return cls({cpus[0]}, {cpus[1]}, True)
        return cls(set(cpus), set(cpus), False)

    def describe(self) -> str:
        if not self.pinned:
            return "not pinned (fewer than 2 CPUs available)"
        return (
            f"load generator + mock providers on CPU {sorted(self.load)}, server under test (magec or "
            f"LiteLLM, every thread) on CPU {sorted(self.server)}, via os.sched_setaffinity on each thread"
        )


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of ``pid`` (sched_setaffinity on a pid only moves its main thread)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return
    for tid in tids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, cpus)


def pin_tree(pid: int, cpus: set[int]) -> None:
    pin(pid, cpus)
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(pid).children(recursive=True):
            pin(child.pid, cpus)


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Poll ``url`` every 10 ms until it answers 200; returns the seconds waited."""
    t0 = time.monotonic()
    # one client: ``httpx.get`` builds a TLS context per call (~17 ms of CPU), so polling every
    # 10 ms with it kept a core busy beside the process whose start-up it was timing
    with httpx.Client(timeout=1) as probe:
        while time.monotonic() - t0 < timeout:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
            with contextlib.suppress(httpx.HTTPError):
                if probe.get(url).status_code == 200:
                    return time.monotonic() - t0
            time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


@dataclass
class Mock:
    label: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def stats(self, reset: bool = False) -> dict[str, Any]:
        r = httpx.post(f"{self.url}/stats") if reset else httpx.get(f"{self.url}/stats")
        return r.json()  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_mock(label: str, cpus: set[int], log_dir: Path) -> Mock:
    port = free_port()
    log = open(log_dir / f"mock-{label}.log", "wb")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.mock_provider", "--port", str(port), "--label", label],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    mock = Mock(label, port, proc)
    wait_http(f"{mock.url}/health", 20, proc)
    pin(proc.pid, cpus)
    return mock


@dataclass
class Magec:
    server: ServerProcess
    startup_s: float
    #: one kept-alive Admin API client, as the Admin UI's browser keeps its connection: a new
    #: httpx client per call builds an SSL context first (20-60 ms of the load generator's CPU),
    #: which the config-change rows counted as magec's time to apply a change
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @property
    def pid(self) -> int:
        assert self.server.proc is not None
        return self.server.proc.pid

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        r = self.http.request(method, f"{self.server.admin_url}/api/v1/admin{path}", json=body)
        r.raise_for_status()
        return r.json() if r.content else None


def start_magec(data_dir: Path, cpus: set[int]) -> Magec:
    """``magec serve`` through the project's ``ServerProcess`` (writes config, waits for health:
    its own poll is every 100 ms, so ``startup_s`` has that resolution)."""
    server = ServerProcess(data_dir)
    t0 = time.monotonic()
    server.start(timeout=60)
    startup = time.monotonic() - t0
    assert server.proc is not None
    pin_tree(server.proc.pid, cpus)
    return Magec(server, startup)


def startup_times(base: Path, runs: int) -> dict[str, Any]:
    """``magec serve`` to healthy: a fresh data dir (migrations run) and a restart on the same dir;
    and an idle server's stop (SIGTERM to the process's exit)."""
    fresh: list[float] = []
    restart: list[float] = []
    stop: list[float] = []
    for i in range(runs):
        d = base / f"startup-{i}"
        for bucket in (fresh, restart):
            s = ServerProcess(d)
            t0 = time.monotonic()
            s.start(timeout=60)
            bucket.append(time.monotonic() - t0)
            t0 = time.monotonic()
            s.stop()
            stop.append(time.monotonic() - t0)
        shutil.rmtree(d, ignore_errors=True)
    return {
        "runs": runs,
        "fresh_s": sorted(fresh)[len(fresh) // 2],
        "restart_s": sorted(restart)[len(restart) // 2],
        "stop_s": round(sorted(stop)[len(stop) // 2], 2),
        "resolution_s": 0.02,
    }


# ---------------------------------------------------------------- LiteLLM


def ensure_litellm(log_dir: Path, timeout: float = 900) -> tuple[Path | None, str]:
    """Install ``litellm[proxy]`` into ``.bench-venv/litellm`` unless it is already there (idempotent).
    Returns (path of the ``litellm`` executable or None, a note)."""
    exe = LITELLM_VENV / "bin" / "litellm"
    py = LITELLM_VENV / "bin" / "python"
    if exe.exists() and py.exists():
        ok = subprocess.run([str(py), "-c", "import litellm.proxy.proxy_server"], capture_output=True, timeout=120,
                            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})  # fmt: skip
        if ok.returncode == 0:
            return exe, f"LiteLLM {_litellm_version(py)} (existing {LITELLM_VENV.relative_to(ROOT)})"
    log = log_dir / "litellm-install.log"
    try:
        with open(log, "wb") as out:
            if not py.exists():
                base = getattr(sys, "_base_executable", None) or sys.executable
                subprocess.run([base, "-m", "venv", "--clear", str(LITELLM_VENV)], check=True, stdout=out,
                               stderr=subprocess.STDOUT, timeout=120)  # fmt: skip
            subprocess.run([str(py), "-m", "pip", "install", "-q", "litellm[proxy]"], check=True, stdout=out,
                           stderr=subprocess.STDOUT, timeout=timeout)  # fmt: skip
    except (subprocess.SubprocessError, OSError) as e:
        tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        return (
            None,
            f"LiteLLM could not be installed into {LITELLM_VENV.relative_to(ROOT)}: {e} {tail}".strip(),
        )
    if not exe.exists():
        return None, "LiteLLM installed but its `litellm` command is missing"
    return exe, f"LiteLLM {_litellm_version(py)} (installed into {LITELLM_VENV.relative_to(ROOT)})"


def _litellm_version(py: Path) -> str:
    r = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('litellm'), m.version('openai'))"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    parts = r.stdout.split()
    return f"{parts[0]} (openai {parts[1]})" if len(parts) == 2 else "?"


@dataclass
class LiteLLM:
    port: int
    proc: subprocess.Popen[bytes]
    startup_s: float
    master_key: str = "sk-bench-master"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_litellm(exe: Path, mock: Mock, models: list[str], work: Path, cpus: set[int]) -> LiteLLM:
    """The LiteLLM proxy (one uvicorn worker, like magec's one process) with each of ``models``
    routed to ``openai/<model>`` on the mock. Logging at ERROR, no database, no callbacks."""
    port = free_port()
    cfg = {
        "model_list": [
            {
                "model_name": m,
                "litellm_params": {"model": f"openai/{m}", "api_base": mock.base_url, "api_key": "sk-mock"},
            }
            for m in models
        ],
        "litellm_settings": {"set_verbose": False, "telemetry": False},
        "general_settings": {"master_key": "sk-bench-master"},
    }
    path = work / "litellm.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": "sk-bench-master",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    log = open(work / "litellm.log", "wb")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        [str(exe), "--config", str(path), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work,
    )  # fmt: skip
    try:
        waited = wait_http(f"http://127.0.0.1:{port}/health/liveliness", 180, proc)
    except RuntimeError as e:
        proc.kill()
        raise RuntimeError(f"{e}\n{(work / 'litellm.log').read_text(errors='replace')[-2000:]}") from None
    pin_tree(proc.pid, cpus)
    return LiteLLM(port, proc, waited)


# ---------------------------------------------------------------- monitoring


@dataclass
class Usage:
    peak_rss_mb: float = 0.0
    end_rss_mb: float = 0.0
    cpu_s: float = 0.0


@dataclass
class Monitor:
    """Samples a process tree's RSS every 100 ms and its CPU time (user + system) over the block."""

    pid: int
    usage: Usage = field(default_factory=Usage)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _cpu0: float = 0.0

    def _procs(self) -> list[psutil.Process]:
        p = psutil.Process(self.pid)
        return [p, *p.children(recursive=True)]

    def _rss(self) -> float:
        total = 0
        for p in self._procs():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total / 2**20

    def _cpu(self) -> float:
        total = 0.0
        for p in self._procs():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def __enter__(self) -> Monitor:
        self._cpu0 = self._cpu()

        def loop() -> None:
            while not self._stop.wait(0.1):
                with contextlib.suppress(psutil.Error):
                    self.usage.peak_rss_mb = max(self.usage.peak_rss_mb, self._rss())

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.usage.cpu_s = self._cpu() - self._cpu0
        self.usage.end_rss_mb = self._rss()
        self.usage.peak_rss_mb = max(self.usage.peak_rss_mb, self.usage.end_rss_mb)
