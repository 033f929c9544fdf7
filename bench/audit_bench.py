"""Audit bench: turn latency with the conversation audit on vs off, side by side in one run.

One in-process magec (both apps composed by :mod:`magec.server`, SQLite, the in-process ``fake``
backend type so no network noise) runs ``/api/v1/agent/run`` turns at each concurrency, in
alternating rounds with ``settings.conversations.enabled`` off and on (the same server, so only
the audit differs; alternating cancels drift). With the audit on, its background writer flushes to
the database during the rounds, as in production. ``run()`` returns per concurrency and mode the
turn latency (mean, p50, p99) and throughput, and the on/off ratios (1.00 = no difference).
Run alone: ``python -m bench.audit_bench``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from magec.backends import registry
from magec.backends.fake import FakeBackendType
from magec.testing.apps import Apps, running_apps

A = "/api/v1/admin"


async def _round(apps: Apps, app_id: str, concurrency: int, turns: int, tag: str) -> tuple[list[float], float]:
    per_worker = max(1, turns // concurrency)

    async def worker(w: int) -> list[float]:
        out = []
        for i in range(per_worker):
            body = {"appName": app_id, "userId": f"u{w}", "sessionId": f"{tag}-{w}",
                    "newMessage": {"role": "user", "parts": [{"text": f"turn {i} of worker {w}"}]}}
            t0 = time.perf_counter()
            r = await apps.user.post("/api/v1/agent/run", json=body)
            out.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"turn failed: {r.status_code} {r.text[:200]}")
        return out

    start = time.perf_counter()
    lat = [x for part in await asyncio.gather(*(worker(w) for w in range(concurrency))) for x in part]
    return lat, time.perf_counter() - start


def _summary(lat: list[float], wall: float) -> dict[str, float]:
    s = sorted(lat)
    return {
        "turns": len(s),
        "mean_ms": round(statistics.fmean(s) * 1000, 2),
        "p50_ms": round(statistics.median(s) * 1000, 2),
        "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))] * 1000, 2),
        "turns_per_s": round(len(s) / wall, 1) if wall else 0.0,
    }


async def _run(concurrency: tuple[int, ...], turns: int, rounds: int) -> dict[str, Any]:
    registry.register(FakeBackendType(record=False))
    with tempfile.TemporaryDirectory(prefix="magec-audit-bench-") as tmp:
        async with running_apps(Path(tmp) / "data") as apps:
            r = await apps.admin.post(f"{A}/backends", json={"name": "fake", "type": "fake"})
            r.raise_for_status()
            r = await apps.admin.post(f"{A}/agents", json={"name": "bench", "llm": {"backend": r.json()["id"], "model": "m"}})
            r.raise_for_status()
            app_id = r.json()["id"]
            rows = []
            for c in concurrency:
                samples: dict[str, tuple[list[float], float]] = {"off": ([], 0.0), "on": ([], 0.0)}
                await _round(apps, app_id, c, c, f"warm-{c}")  # sessions, pools and caches warm
                for n in range(rounds):
                    for mode in ("off", "on") if n % 2 == 0 else ("on", "off"):
                        r = await apps.admin.put(f"{A}/settings", json={"conversations": {"enabled": mode == "on"}})
                        r.raise_for_status()
                        lat, wall = await _round(apps, app_id, c, turns, f"{mode}-{c}-{n}")
                        prev, prev_wall = samples[mode]
                        samples[mode] = (prev + lat, prev_wall + wall)
                off, on = (_summary(*samples[m]) for m in ("off", "on"))
                rows.append({
                    "concurrency": c, "off": off, "on": on,
                    "ratio_mean": round(on["mean_ms"] / off["mean_ms"], 3),
                    "ratio_p50": round(on["p50_ms"] / off["p50_ms"], 3),
                    "ratio_p99": round(on["p99_ms"] / off["p99_ms"], 3),
                })
            audit = apps.ctx.extras["audit"]
            await audit.flush()
            dropped = sum(
                s.value for m in audit.dropped.collect() for s in m.samples if s.name.endswith("_total")
            )
    return {"available": True, "rows": rows, "turns_per_round": turns, "rounds": rounds, "dropped": dropped}


def run(concurrency: tuple[int, ...] = (1, 64), turns: int = 256, rounds: int = 3) -> dict[str, Any]:
    """The audit on/off comparison (see the module docstring)."""
    return asyncio.run(_run(tuple(concurrency), turns, rounds))


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))


def report_lines(r: dict[str, Any]) -> list[str]:
    """The markdown of a ``run()`` result (``docs/benchmarks.md``)."""
    out = [
        f"`/api/v1/agent/run` turns on the in-process `fake` backend, {r['turns_per_round']} turns per round, "
        f"{r['rounds']} alternating rounds per mode; ratio = audit on / audit off (1.00 = no difference). "
        f"Audit records dropped: {r.get('dropped', 0)}.",
        "",
        "| concurrency | off mean ms | on mean ms | off p50 ms | on p50 ms | off p99 ms | on p99 ms | "
        "off turns/s | on turns/s | ratio mean | ratio p50 | ratio p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        off, on = row["off"], row["on"]
        out.append(
            f"| {row['concurrency']} | {off['mean_ms']} | {on['mean_ms']} | {off['p50_ms']} | {on['p50_ms']} | "
            f"{off['p99_ms']} | {on['p99_ms']} | {off['turns_per_s']} | {on['turns_per_s']} | "
            f"{row['ratio_mean']} | {row['ratio_p50']} | {row['ratio_p99']} |"
        )
    return out
