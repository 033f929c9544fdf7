"""``python -m bench``: every benchmark, then rewrite ``docs/benchmarks.md``.

``python -m bench --smoke``: a ~30-second version that checks the pipeline works end to end (CI);
it writes its report to a temporary file unless ``--output`` is given, and exits non-zero when a
scenario failed. ``--no-litellm`` skips the LiteLLM peer; ``--json PATH`` also saves the raw results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import external, hostspeed, report, scenarios
from bench.procs import (
    ALL_CPUS,
    ROOT,
    Cores,
    LiteLLM,
    Magec,
    Mock,
    ensure_litellm,
    pin,
    start_litellm,
    start_magec,
    start_mock,
    startup_times,
)

DOC = ROOT / "docs" / "benchmarks.md"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def machine(cores: Cores) -> dict[str, Any]:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    return {
        "cpu_model": model,
        "cores": len(ALL_CPUS),
        "memory_gb": round(mem, 1),
        "loadavg": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "pinning": cores.describe(),
        "speed": hostspeed.probe(cores.server),
    }


def _section(results: dict[str, Any], key: str, fn: Callable[[], Any], failures: list[str]) -> Any:
    """Run one section; a failure is recorded in the results (and the report), not raised."""
    t0 = time.monotonic()
    log(f"== {key}")
    try:
        value = fn()
    except Exception as e:  # noqa: BLE001 - one broken section must not lose the others
        traceback.print_exc()
        failures.append(f"{key}: {type(e).__name__}: {e}")
        results[key] = {"note": f"failed: {type(e).__name__}: {str(e)[:300]}"}
        return None
    results[key] = value
    log(f"   {key} done in {time.monotonic() - t0:.1f}s")
    return value


def run_all(smoke: bool, litellm: bool, workdir: Path, sections: set[str] | None = None) -> dict[str, Any]:
    plan = scenarios.Plan.smoke() if smoke else scenarios.Plan.full()
    cores = Cores.detect()
    pin(os.getpid(), cores.load)
    t_start = time.monotonic()
    res: dict[str, Any] = {
        "smoke": smoke,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(cores),
        "plan": {"concurrency": plan.concurrency, "requests": plan.requests, "warmup": plan.warmup},
    }
    failures: list[str] = []
    want = lambda s: sections is None or s in sections  # noqa: E731

    mocks: dict[str, Mock] = {}
    magec: Magec | None = None
    lite: LiteLLM | None = None
    try:
        for label in ("A", "B"):
            mocks[label] = start_mock(label, cores.load, workdir)
        if want("mock"):
            _section(
                res, "mock_capacity", lambda: asyncio.run(scenarios.mock_capacity(mocks["A"], plan)), failures
            )
        if want("startup") and not smoke:
            _section(res, "startup", lambda: startup_times(workdir, 3), failures)

        magec = _section(res, "magec_server", lambda: start_magec(workdir / "magec", cores.server), failures)
        ids = None
        if magec is not None:
            res["magec_server"] = {"startup_s": round(magec.startup_s, 2), "pid": magec.pid}
            if smoke and want("startup"):  # one fresh start is enough for a smoke run
                res["startup"] = {
                    "runs": 1,
                    "fresh_s": round(magec.startup_s, 2),
                    "restart_s": None,
                    "resolution_s": 0.02,
                }
            ids = _section(res, "magec_setup", lambda: scenarios.setup_magec(magec, mocks), failures)  # type: ignore[arg-type]
        if litellm and want("proxy"):
            log("== litellm")
            lite, note = _litellm(mocks["A"], workdir, cores)
            log(f"   {note}")
            res["litellm"] = {"note": note, "startup_s": round(lite.startup_s, 1) if lite else None}
        else:
            res["litellm"] = {"note": "LiteLLM skipped (--no-litellm)."}

        if want("proxy"):
            _section(res, "proxy", lambda: asyncio.run(_proxy(plan, mocks, magec, ids, lite)), failures)
        if want("ttft"):
            _section(res, "ttft_paced", lambda: asyncio.run(
                scenarios.ttft_paced(plan, mocks["A"], magec, ids[3] if ids else None, lite, log)), failures)  # fmt: skip
        if lite is not None:
            lite.stop()
            lite = None
        if want("switch") and magec is not None and ids is not None:
            backends = ids[2]
            _section(res, "config_change",
                     lambda: asyncio.run(scenarios.config_change(magec, ids[1], mocks, backends, plan, log)), failures)  # type: ignore[arg-type]  # fmt: skip
        if want("breakdown") and mocks:
            out = _section(res, "breakdown", lambda: external.run_external(
                "breakdown", {"mock_url": mocks["A"].url, "turns": 30 if smoke else 300}, 300, cores.server), failures)  # fmt: skip
            if isinstance(out, dict):
                out["module"] = "breakdown"
    finally:
        if lite is not None:
            lite.stop()
        if magec is not None:
            magec.server.stop()
        for m in mocks.values():
            m.stop()

    mem_sizes = [1000] if smoke else [10_000, 100_000]
    subs = [
        ("memory", "memory_bench", {"sizes": mem_sizes}, 120 if smoke else 900),
        ("session", "session_bench", {"concurrency": 5, "turns": 2} if smoke else {"concurrency": 50, "turns": 10}, 60 if smoke else 300),
        ("voice", "voice_bench", {"counts": [2], "seconds": 0.8, "idle_seconds": 0.3} if smoke
         else {"counts": [1, 10, 20, 40], "seconds": 12.0}, 90 if smoke else 600),
        ("live", "live_bench", {"agent_counts": [5, 20], "edits": 2, "rounds": 1} if smoke
         else {"agent_counts": [10, 100, 1000], "edits": 10, "rounds": 20}, 120 if smoke else 600),
        ("workers", "workers_bench", {"connections": 8, "seconds": 1.5, "rounds": 1, "warmup": 0.5} if smoke
         else {"connections": 64, "seconds": 10.0, "rounds": 3}, 400 if smoke else 900),
        ("resilience", "resilience_bench", {"turns": 3, "calls": 30, "rounds": 3} if smoke
         else {"turns": 20, "calls": 300, "rounds": 9}, 120 if smoke else 600),
        ("audit", "audit_bench", {"concurrency": [1, 32], "turns": 32, "rounds": 1} if smoke
         else {"concurrency": [1, 64], "turns": 512, "rounds": 4}, 240 if smoke else 900),
        ("scale", "scale_bench", {"long_turns": 30, "measured": 3, "messages": [500], "repeats": 2} if smoke
         else {"long_turns": 500, "measured": 10, "messages": [4000, 16000], "repeats": 5}, 180 if smoke else 900),
        ("load", "load_bench", {"streams": 50, "pace_ms": 100, "ramp_s": 0.5, "limit": 10, "burst": 15, "burst_pace_ms": 250} if smoke
         else {"streams": 1000, "ramp_s": 10.0, "limit": 50, "burst": 150}, 300 if smoke else 900),
    ]  # fmt: skip
    if smoke:  # a real server + mock and 100s of requests: minutes, not a pipeline check
        res["tokens"] = {"available": False, "reason": "not run by --smoke"}
    else:
        subs.append(("tokens", "token_bench", {"requests": 100, "ttft_requests": 60}, 600))
    if external.local_extra_installed():
        subs.append(
            (
                "local",
                "local_bench",
                {"turns": 1, "max_tokens": 16} if smoke else {"turns": 5, "max_tokens": 128},
                120 if smoke else 300,
            )
        )
    else:
        res["local"] = {"available": False, "reason": "the `local` extra (llama-cpp-python) is not installed"}
    for key, module, kwargs, timeout in subs:
        if want(key):
            out = _section(
                res, key, lambda m=module, k=kwargs, t=timeout: external.run_external(m, k, t), failures
            )  # type: ignore[misc]
            if isinstance(out, dict):
                out["module"] = module
                if not out.get("available"):
                    log(f"   {key}: not available: {out.get('reason')}")

    res["failures"] = failures
    res["elapsed_s"] = round(time.monotonic() - t_start, 1)
    return res


def _litellm(mock: Mock, workdir: Path, cores: Cores) -> tuple[LiteLLM | None, str]:
    """Install (idempotent) and start the LiteLLM proxy; (None, why) when it cannot be used."""
    try:
        exe, note = ensure_litellm(workdir)
        if exe is None:
            return None, note
        return start_litellm(exe, mock, [scenarios.MODEL, scenarios.PACED_MODEL], workdir, cores.server), note
    except Exception as e:  # noqa: BLE001 - the peer is optional
        return None, f"LiteLLM skipped: {type(e).__name__}: {str(e)[:400]}"


async def _proxy(
    plan: scenarios.Plan, mocks: dict[str, Mock], magec: Magec | None, ids: Any, lite: LiteLLM | None
) -> dict[str, Any]:
    tgts, clients = scenarios.targets(mocks["A"], magec, ids[0] if ids else None, lite)
    try:
        rows = await scenarios.proxy_matrix(plan, tgts, log)
    finally:
        await scenarios.close_clients(clients)
    return {"model": scenarios.MODEL, "rows": rows, "ratios": scenarios.ratios(rows)}


def check_smoke(res: dict[str, Any], litellm: bool) -> list[str]:
    """What a smoke run must show: every section ran and nothing errored."""
    problems = list(res.get("failures", []))
    rows = (res.get("proxy") or {}).get("rows", [])
    names = {(r["target"], r["mode"]) for r in rows}
    expected = {("direct", "nonstream"), ("direct", "stream"), ("direct_raw", "nonstream"), ("magec_openai", "nonstream"),
                ("magec_openai", "stream"), ("magec_run", "nonstream"), ("magec_run_sse", "stream")}  # fmt: skip
    if litellm:
        expected |= {("litellm", "nonstream"), ("litellm", "stream")}
    if missing := expected - names:
        problems.append(f"proxy matrix is missing {sorted(missing)}")
    problems += [f"{r['target']} {r['mode']} c={r['concurrency']}: {r['errors']} errors ({r.get('first_error')})"
                 for r in rows if r["errors"]]  # fmt: skip
    paced = res.get("ttft_paced")
    if (
        not isinstance(paced, list)
        or any(r["errors"] for r in paced)
        or len({r["target"] for r in paced}) < 2
    ):
        problems.append(f"paced TTFT: {paced}")
    sw = res.get("config_change") or {}
    if not sw.get("rounds"):
        problems.append("config change not measured")
    elif sw["dropped_total"] or any(r["visible_ms"] is None for r in sw["rounds"]):
        problems.append(f"config change: {sw['rounds']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    p.add_argument("--smoke", action="store_true", help="~30 s pipeline check (CI); report to a temp file")
    p.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM peer")
    p.add_argument(
        "--output", type=Path, help=f"markdown report path (default: {DOC.relative_to(ROOT)}; smoke: temp)"
    )
    p.add_argument("--json", type=Path, help="also write the raw results as JSON")
    p.add_argument(
        "--only", help="comma-separated: mock,startup,proxy,ttft,switch,breakdown,memory,session,voice,live,resilience,audit,scale,tokens,load,workers,local"
    )
    p.add_argument(
        "--render", type=Path, metavar="JSON", help="only re-render the report from saved --json results"
    )
    a = p.parse_args(argv)
    if a.render:
        (a.output or DOC).write_text(report.render(json.loads(a.render.read_text())))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="magec-bench-"))
    sections = set(a.only.split(",")) if a.only else None
    try:
        res = run_all(a.smoke, not a.no_litellm, workdir, sections)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = a.output or (Path(tempfile.gettempdir()) / "magec-bench-smoke.md" if a.smoke else DOC)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = report.render(res)
    out.write_text(text)
    if a.json:
        a.json.write_text(json.dumps(res, indent=2, default=str))
    print(text)
    log(f"report written to {out} ({res['elapsed_s']:.0f} s)")
    if a.smoke:
        problems = check_smoke(res, not a.no_litellm)
        for pr in problems:
            log(f"SMOKE FAILURE: {pr}")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
