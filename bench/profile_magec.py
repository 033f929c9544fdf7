"""Profile ``magec serve`` under load with py-spy (sampling, from outside the process).

``python -m bench.profile_magec [--mode nonstream|stream|run|run_sse] [--seconds 15] [--concurrency 16] [--model mock-t200-d2]``

Installs py-spy into ``.bench-venv/tools`` when missing, starts the mock and ``magec serve`` as the
bench does, drives load at ``--concurrency`` and records the server with ``py-spy record --format
raw`` (collapsed stacks). Prints the top frames by inclusive and by self time (share of samples),
with magec/ADK/pydantic/... grouping, and leaves the raw stacks (for a flame graph) at ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import loadgen, scenarios
from bench.procs import ROOT, Cores, pin, start_magec, start_mock

TOOLS = ROOT / ".bench-venv" / "tools"


def ensure_py_spy() -> Path:
    exe = TOOLS / "bin" / "py-spy"
    if not exe.exists():
        if not (TOOLS / "bin" / "python").exists():
            subprocess.run(
                [getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(TOOLS)], check=True
            )
        subprocess.run([str(TOOLS / "bin" / "python"), "-m", "pip", "install", "-q", "py-spy"], check=True)
    return exe


def summarize(raw: Path, top: int = 40) -> str:
    incl: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    groups: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        total += count
        frames = stack.split(";")
        for f in set(frames):
            incl[f] += count
        self_[frames[-1]] += count
        groups[_group(frames[-1])] += count
    out = [f"{total} samples"]
    out.append("\n-- self time by package --")
    out += [f"{c / total:6.1%}  {g}" for g, c in groups.most_common()]
    out.append("\n-- self time --")
    out += [f"{c / total:6.1%}  {f}" for f, c in self_.most_common(top)]
    out.append("\n-- inclusive time --")
    out += [f"{c / total:6.1%}  {f}" for f, c in incl.most_common(top)]
    return "\n".join(out)


def _group(frame: str) -> str:
    for key in ("magec/", "google/adk", "google/genai", "pydantic", "openai/", "httpx2", "httpcore", "starlette",
                "fastapi", "uvicorn", "sqlalchemy", "aiosqlite", "opentelemetry", "asyncio", "json"):  # fmt: skip
        if key in frame:
            return key.rstrip("/")
    return "other"


async def drive(mode: str, mock_url: str, magec_url: str, agent: str, c: int, seconds: float) -> int:
    user = loadgen.http_client()
    sdk = loadgen.openai_client(f"{magec_url}/v1")
    call = {
        "nonstream": loadgen.openai_call(sdk, agent, False),
        "stream": loadgen.openai_call(sdk, agent, True),
        "run": loadgen.run_call(user, f"{magec_url}/api/v1/agent/run", agent),
        "run_sse": loadgen.run_sse_call(user, f"{magec_url}/api/v1/agent/run_sse", agent),
    }[mode]
    done = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            s = await loadgen.guarded(call)
            if not s.ok:
                raise RuntimeError(s.error)
            done += 1

    await asyncio.gather(*(worker() for _ in range(c)))
    await user.aclose()
    await sdk.close()
    return done


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="nonstream", choices=["nonstream", "stream", "run", "run_sse"])
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "magec-profile.txt")
    p.add_argument("--idle", action="store_true", help="include idle (waiting) samples")
    p.add_argument("--model", help="the mock model the agent calls (e.g. mock-t200-d2: paced tokens)")
    p.add_argument(
        "--all-threads", action="store_true", help="sample threads without the GIL too (default: --gil)"
    )
    a = p.parse_args()
    exe = ensure_py_spy()
    cores = Cores.detect()
    pin(os.getpid(), cores.load)
    work = Path(tempfile.mkdtemp(prefix="magec-prof-"))
    mocks = {k: start_mock(k, cores.load, work) for k in ("A", "B")}
    magec = start_magec(work / "magec", cores.server)
    try:
        bench_id, _, backends, _ = scenarios.setup_magec(magec, mocks)
        if a.model:
            bench_id = magec.admin("POST", "/agents", {"name": "profiled", "llm": {"backend": backends["A"], "model": a.model}})["id"]
        asyncio.run(
            drive(a.mode, mocks["A"].url, magec.server.user_url, bench_id, a.concurrency, 2)
        )  # warm-up
        cmd = [str(exe), "record", "--pid", str(magec.pid), "--format", "raw", "--rate", str(a.rate),
               "--duration", str(int(a.seconds)), "--output", str(a.out), "--nonblocking"]  # fmt: skip
        if a.idle:
            cmd.append("--idle")
        if not a.all_threads:
            cmd.append("--gil")  # only the thread holding the GIL: CPU attribution, not GIL waits
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        n = asyncio.run(
            drive(a.mode, mocks["A"].url, magec.server.user_url, bench_id, a.concurrency, a.seconds)
        )
        _, err = spy.communicate(timeout=60)
        print(
            f"{n} requests ({n / a.seconds:.0f} req/s) in {a.seconds:.0f}s, mode {a.mode}, c={a.concurrency}"
        )
        if not a.out.exists():
            print(err.decode(errors="replace"))
            return
        print(summarize(a.out))
    finally:
        magec.server.stop()
        for m in mocks.values():
            m.stop()


if __name__ == "__main__":
    main()
