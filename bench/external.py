"""Run the other engineers' benches (``bench/memory_bench.py``, ``session_bench.py``,
``local_bench.py``) through their public ``run(...) -> dict``, each in a child process: a missing,
broken or hung bench becomes ``{"available": False, "reason": ...}`` instead of failing the run."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from typing import Any

from bench.procs import ALL_CPUS, ROOT

MARK = "@@BENCH-JSON@@"
_SCRIPT = """
import json, sys
from bench import {module} as m
kwargs = json.loads(sys.argv[1])
for k, v in list(kwargs.items()):
    if isinstance(v, list):
        kwargs[k] = tuple(v)
print({mark!r} + json.dumps(m.run(**kwargs)), flush=True)
"""


def available(module: str) -> str | None:
    """None when ``bench.<module>`` exists with a ``run``; else why not."""
    path = ROOT / "bench" / f"{module}.py"
    if not path.exists():
        return f"bench/{module}.py is not there"
    if "def run(" not in path.read_text(errors="replace"):
        return f"bench/{module}.py has no run() function"
    return None


def local_extra_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def run_external(
    module: str, kwargs: dict[str, Any], timeout: float, cpus: frozenset[int] | set[int] = ALL_CPUS
) -> dict[str, Any]:
    reason = available(module)
    if reason:
        return {"available": False, "reason": reason}
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _SCRIPT.format(module=module, mark=MARK), json.dumps(kwargs)],
            capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
            preexec_fn=lambda: os.sched_setaffinity(0, cpus),  # default: undo our pinning
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"available": False, "reason": f"timed out after {timeout:.0f}s", "args": kwargs}
    elapsed = round(time.monotonic() - t0, 1)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return {
                "available": True,
                "args": kwargs,
                "elapsed_s": elapsed,
                "result": json.loads(line[len(MARK) :]),
            }
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {
        "available": False,
        "reason": f"exit {proc.returncode}: " + " | ".join(tail)[-400:],
        "args": kwargs,
    }
