"""Workers bench (issue "Scale", goal 5): throughput of ``magec serve --workers 2`` vs ``--workers 1``,
side by side in one run, as a ratio against the target (≥ 1.8× on 2 cores).

Both servers run at once (SQLite, each its own data dir) and are loaded in alternating rounds
(1, 2, 1, 2, …; the best round of each is kept, the least disturbed by other load on the machine).
The workload is a full turn, ``POST /api/v1/agent/run`` opening a new session each time (session
rows, the audit and the usage written to SQLite), answered by the in-process ``fake`` backend type so
that no provider process competes for the cores: the servers here are started by this module
(``python -m bench.workers_bench serve CONFIG N``), which registers that backend type in every
worker before :func:`magec.server.serve` (the same supervisor as ``magec serve --workers N``).

Each worker listens on its own ``SO_REUSEPORT`` socket, so the kernel spreads connections by a
hash of their addresses: with few connections from one client the split is often lopsided (16
connections split 11/5 about one round in five, leaving a core half idle). The load therefore
opens 64 connections (a fresh set each round), closer to the many clients a server sees.

The load generator is raw keep-alive sockets with a precomputed request (no client library), so
its own CPU stays a small fraction of the servers'; it still shares the machine's cores, so on a
2-core machine the measured ratio is a floor. ``server_cpu_ms`` is the CPU the server processes
used per request (from /proc): flat between 1 and 2 workers means the second worker added no
overhead, and the ratio is bounded by free cores, not by contention.

Run alone: ``python -m bench.workers_bench`` (prints the JSON result).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from magec.config import Config, load_config
from magec.testing.services import free_port

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"ratio": 1.8}
A = "/api/v1/admin"


# -- the servers (children of this module) ------------------------------------------------------
async def serve_with_fake(config: Config, slot: Any = None) -> None:
    """:func:`magec.server.serve` with the in-process ``fake`` backend type registered (a worker
    target: module-level, so it travels to spawned workers by name)."""
    from magec.backends import registry
    from magec.backends.fake import FakeBackendType
    from magec.server import serve

    registry.register(FakeBackendType(record=False))
    await serve(config, slot)


def _serve_main(config_path: str, workers: int) -> int:
    # imported by its module name (not __main__'s) so the spawned workers import the same module
    from bench.workers_bench import serve_with_fake as target
    from magec.logs import setup_logging
    from magec.server import prepare
    from magec.workers.supervisor import run as run_workers

    cfg = load_config(config_path)
    setup_logging(cfg.log_level, cfg.log_format)
    if workers > 1:
        return run_workers(cfg, workers, target, prepare)
    asyncio.run(target(cfg))
    return 0


def _ok(r: httpx.Response) -> Any:
    """The JSON of a successful answer; else an error that carries the answer's body (the report
    shows why a set-up write was refused, not only its status)."""
    if r.is_error:
        raise RuntimeError(f"{r.request.method} {r.request.url.path} -> {r.status_code}: {r.text[:500]}")
    return r.json()


class Server:
    def __init__(self, base: Path, workers: int) -> None:
        self.workers = workers
        self.port, self.admin_port = free_port(), free_port()
        data = base / f"w{workers}"
        data.mkdir(parents=True)
        cfg = {"server": {"host": "127.0.0.1", "port": self.port, "adminPort": self.admin_port, "encryptionKey": "bench"},
               "dataDir": str(data), "log": {"level": "warning", "format": "json"}}
        (data / "config.yaml").write_text(yaml.safe_dump(cfg))
        self.log = open(data / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.workers_bench", "serve", str(data / "config.yaml"), str(workers)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)  # fmt: skip

    def wait(self, timeout: float = 300) -> None:
        """Until every worker answered (``X-Magec-Worker`` on fresh connections) on both ports."""
        end = time.monotonic() + timeout
        seen: dict[int, set[str]] = {self.port: set(), self.admin_port: set()}
        # a fresh connection per probe (no keep-alive: each may reach another worker) from one
        # client (``httpx.get`` builds a TLS context per call: ~17 ms of CPU per probe)
        with httpx.Client(timeout=1, limits=httpx.Limits(max_keepalive_connections=0)) as probe:
            while any(len(s) < self.workers for s in seen.values()):
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(f"workers={self.workers} did not start")
                for port, s in seen.items():
                    try:
                        r = probe.get(f"http://127.0.0.1:{port}/api/v1/health")
                        s.add(r.headers.get("x-magec-worker", "0"))
                    except httpx.HTTPError:
                        time.sleep(0.2)

    def setup(self) -> str:
        with httpx.Client(base_url=f"http://127.0.0.1:{self.admin_port}{A}", timeout=60) as c:
            b = _ok(c.post("/backends", json={"name": "fake", "type": "fake"}))
            a = _ok(c.post("/agents", json={"name": "bench", "llm": {"backend": b["id"], "model": "m"}}))
            return str(a["id"])

    def cpu_seconds(self) -> float:
        total = 0.0
        try:
            procs = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.Error:
            return 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


# -- the load ----------------------------------------------------------------------------------
async def _load(port: int, app_id: str, connections: int, seconds: float) -> dict[str, Any]:
    body = json.dumps({"appName": app_id, "userId": "bench",
                       "newMessage": {"role": "user", "parts": [{"text": "Say something short."}]}}).encode()
    req = (f"POST /api/v1/agent/run HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
           f"content-length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip
    done = errors = 0
    by_worker: dict[str, int] = {}
    deadline = time.perf_counter() + seconds

    async def conn() -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                writer.write(req)
                head = (await reader.readuntil(b"\r\n\r\n")).lower()
                length = int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
                if not head.startswith(b"http/1.1 200"):
                    errors += 1
                    continue
                done += 1
                w = head.split(b"x-magec-worker: ", 1)[1].split(b"\r\n", 1)[0].decode() if b"x-magec-worker" in head else "0"
                by_worker[w] = by_worker.get(w, 0) + 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(connections)))
    wall = time.perf_counter() - t0
    return {"requests": done, "errors": errors, "rps": round(done / wall, 1), "by_worker": by_worker}


def _round(server: Server, app_id: str, connections: int, seconds: float) -> dict[str, Any]:
    cpu0 = server.cpu_seconds()
    out = asyncio.run(_load(server.port, app_id, connections, seconds))
    cpu = server.cpu_seconds() - cpu0
    out["server_cpu_ms"] = round(cpu / out["requests"] * 1000, 2) if out["requests"] else None
    return out


def run(connections: int = 64, seconds: float = 10.0, rounds: int = 3, warmup: float = 3.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="magec-workers-bench-") as tmp:
        servers = {1: Server(Path(tmp), 1), 2: Server(Path(tmp), 2)}
        try:
            apps = {}
            for n, s in servers.items():
                s.wait()
                apps[n] = s.setup()
                _round(s, apps[n], connections, warmup)  # warm-up, discarded
            samples: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
            for _ in range(rounds):
                for n in (1, 2):
                    samples[n].append(_round(servers[n], apps[n], connections, seconds))
        finally:
            for s in servers.values():
                s.stop()
    best = {n: max(v, key=lambda x: x["rps"]) for n, v in samples.items()}
    ratio = round(best[2]["rps"] / best[1]["rps"], 2) if best[1]["rps"] else None
    return {
        "targets": TARGETS,
        "cores": len(os.sched_getaffinity(0)),
        "loadavg": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "connections": connections,
        "seconds": seconds,
        "rounds": {str(n): v for n, v in samples.items()},
        "best": {str(n): v for n, v in best.items()},
        "ratio": ratio,
    }


def met(value: float | None, floor: float) -> str:
    return "n/a" if value is None else ("met" if value >= floor else "missed")


def report_lines(r: dict[str, Any]) -> list[str]:
    """The markdown of a ``run()`` result (``docs/benchmarks.md``)."""
    b1, b2 = r["best"]["1"], r["best"]["2"]
    out = [f"`magec serve --workers N` throughput (`POST /run`, new session per turn, in-process `fake` backend, "
           f"SQLite; {r['connections']} keep-alive connections, best of {len(r['rounds']['1'])} alternating "
           f"{r['seconds']:.0f} s rounds; {r['cores']} cores shared with the load generator; load average at the end "
           f"{r['loadavg']}):", "",
           "| workers | turns/s | errors | server CPU ms/turn | turns per worker | ratio | target | |",
           "|---|---|---|---|---|---|---|---|"]
    for n, b in (("1", b1), ("2", b2)):
        ratio = "1.0×" if n == "1" else f"{r['ratio']}×"
        target = "" if n == "1" else f"≥ {r['targets']['ratio']}×"
        verdict = "" if n == "1" else met(r["ratio"], r["targets"]["ratio"])
        spread = " / ".join(str(v) for _, v in sorted(b["by_worker"].items()))
        out.append(f"| {n} | {b['rps']} | {b['errors']} | {b['server_cpu_ms']} | {spread} | {ratio} | {target} | {verdict} |")
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        sys.exit(_serve_main(sys.argv[2], int(sys.argv[3])))
    print(json.dumps(run(seconds=5.0, rounds=2), indent=2))
