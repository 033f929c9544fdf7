"""Load bench (issue "Scale", goal 6 — no collapse): many concurrent slow streams on one
``magec serve`` process, and a burst beyond ``limits.maxRuns``.

One real ``magec serve`` (SQLite, default limits) and the paced mock provider in its own process
(:mod:`magec.testing.load`, the same clients as ``tests/runtime/test_slow_streams.py``):

* **streams**: ``streams`` streams of 20 tokens ``pace_ms`` apart, half ``/v1/chat/completions``
  (``stream: true``) and half ``/run_sse`` (token partials), arriving evenly over ``ramp_s``
  seconds (each lasts longer than the ramp, so all are in flight together): errors (target 0;
  an error is any status but 200, an error event, a broken or incomplete text), p50/p99 time to
  first token, p99 total.
* **burst**: a second server with ``limits.maxRuns: limit``; ``limit`` admitted 20-second streams,
  then ``burst`` more requests at once: the share answered 429/503 (target 100 %), the share of
  those with ``Retry-After`` (target 100 %), the slowest refusal, whether every admitted stream
  still completed and whether any answer or the log showed a pool error.

Run alone: ``python -m bench.load_bench``.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from magec.testing import load
from magec.testing.server import ServerProcess

TOKENS = 20
TARGETS = {"errors": 0, "refused_share": 1.0, "retry_after_share": 1.0}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def _cpu_s(pid: int) -> float:
    import os

    st = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def _streams(tmp: Path, provider: str, n: int, pace_ms: int, ramp_s: float) -> dict[str, Any]:
    with ServerProcess(tmp / "streams").start(timeout=300) as server:
        assert server.proc is not None
        aid = load.make_agent(server.admin_url, provider, load.model(TOKENS, pace_ms))
        cpu0 = _cpu_s(server.proc.pid)
        results = asyncio.run(load.streams(server.user_url, aid, n, ramp_s))
        cpu = _cpu_s(server.proc.pid) - cpu0
        log = server.log_path.read_text() if server.log_path else ""
    full = load.full_text(TOKENS)
    bad = [r for r in results if not r.ok(full)]
    ttft = [r.ttft for r in results if r.ttft is not None]
    return {
        "streams": n, "tokens": TOKENS, "pace_ms": pace_ms, "ramp_s": ramp_s,
        "errors": len(bad), "first_error": (bad[0].failure or bad[0].text)[:300] if bad else None,
        "ttft_p50_s": _pct(ttft, 0.5), "ttft_p99_s": _pct(ttft, 0.99),
        "total_p99_s": _pct([r.total for r in results], 0.99),
        "ideal_total_s": round(TOKENS * pace_ms / 1000, 1),
        "server_cpu_s": round(cpu, 1), "pool_error_in_log": bool(load.POOL_ERROR.search(log)),
    }  # fmt: skip


def _burst(tmp: Path, provider: str, limit: int, extra: int, pace_ms: int) -> dict[str, Any]:
    with ServerProcess(tmp / "burst", config={"limits": {"maxRuns": limit}}).start(timeout=300) as server:
        aid = load.make_agent(server.admin_url, provider, load.model(TOKENS, pace_ms))
        b = asyncio.run(load.burst(server.user_url, aid, limit, extra))
        log = server.log_path.read_text() if server.log_path else ""
    refused = [r for r in b.refused if r.status in (429, 503)]
    full = load.full_text(TOKENS)
    return {
        "limit": limit, "burst": extra,
        "refused_share": round(len(refused) / extra, 3),
        "retry_after_share": round(sum(1 for r in refused if r.retry_after) / max(1, len(refused)), 3),
        "statuses": sorted({r.status for r in b.refused}),
        "refusal_p50_s": _pct([r.total for r in b.refused], 0.5),
        "refusal_max_s": _pct([r.total for r in b.refused], 1.0),
        "in_flight_after_refusals": b.in_flight_after,
        "admitted_completed": sum(1 for r in b.admitted if r.ok(full)), "admitted": limit,
        "pool_error": bool(load.POOL_ERROR.search(log)) or any(load.POOL_ERROR.search(r.failure) for r in b.refused),
    }  # fmt: skip


def run(
    streams: int = 1000,
    pace_ms: int = 500,
    ramp_s: float = 10.0,
    limit: int = 50,
    burst: int = 150,
    burst_pace_ms: int = 1000,
) -> dict[str, Any]:
    """``burst_pace_ms``: the admitted streams' token pace (20 tokens: they must outlast the refusals)."""
    load.raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="magec-load-bench-") as tmp, load.paced_provider() as provider:
        return {
            "targets": TARGETS,
            "streams": _streams(Path(tmp), provider, streams, pace_ms, ramp_s),
            "burst": _burst(Path(tmp), provider, limit, burst, burst_pace_ms),
        }


def _met(ok: bool) -> str:
    return "met" if ok else "missed"


def report_lines(r: dict[str, Any]) -> list[str]:
    """The markdown of a ``run()`` result (``docs/benchmarks.md``)."""
    s, b = r["streams"], r["burst"]
    out = [f"{s['streams']} concurrent slow streams on one `magec serve` (SQLite, default limits): {s['tokens']} tokens "
           f"{s['pace_ms']} ms apart (ideal {s['ideal_total_s']} s each), half `/v1` stream and half `/run_sse`, arriving "
           f"over {s['ramp_s']} s; mock provider in its own process.", "",
           "| streams | errors | TTFT p50 s | TTFT p99 s | total p99 s | server CPU s | pool error in log | target | |",
           "|---|---|---|---|---|---|---|---|---|",
           f"| {s['streams']} | {s['errors']} | {s['ttft_p50_s']} | {s['ttft_p99_s']} | {s['total_p99_s']} | "
           f"{s['server_cpu_s']} | {'yes' if s['pool_error_in_log'] else 'no'} | 0 errors | "
           f"{_met(s['errors'] == 0 and not s['pool_error_in_log'])} |"]  # fmt: skip
    if s.get("first_error"):
        out += ["", f"First error: `{s['first_error']}`"]
    out += ["", f"Burst beyond `limits.maxRuns: {b['limit']}` ({b['limit']} 20-second streams admitted, then "
            f"{b['burst']} more at once):", "",
            "| refused 429/503 | with Retry-After | statuses | refusal p50 s | slowest refusal s | in flight after | "
            "admitted completed | pool error | target | |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {b['refused_share']:.0%} | {b['retry_after_share']:.0%} | {b['statuses']} | {b['refusal_p50_s']} | "
            f"{b['refusal_max_s']} | {b['in_flight_after_refusals']:.0f} | {b['admitted_completed']}/{b['admitted']} | "
            f"{'yes' if b['pool_error'] else 'no'} | 100 % refused with Retry-After, no pool error | "
            f"{_met(b['refused_share'] == 1 and b['retry_after_share'] == 1 and not b['pool_error'] and b['admitted_completed'] == b['admitted'])} |"]  # fmt: skip
    return out


if __name__ == "__main__":
    print(json.dumps(run(streams=200, ramp_s=2.0, limit=20, burst=40), indent=2))
