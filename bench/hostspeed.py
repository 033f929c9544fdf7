"""How fast this host runs Python right now: a fixed workload on the server's core.

Why: the c=1 rows (added latency, first token) are absolute milliseconds, and shared VMs run the
same code 2–3× slower at times, most after short idle spells (a request at c=1 always follows
one). The report prints this probe beside the machine so a reader can tell a slow host from a slow
magec; nothing is scaled by it.

The workload is a JSON round trip of a fixed 3,000-key dict, timed in CPU time (``process_time``)
60 times back to back and 60 times after a 50 ms sleep each; the p50 of each is reported.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

_DATA = {f"k{i}": [i, str(i), {"x": i}] for i in range(3000)}


def _p50(gap: float, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        if gap:
            time.sleep(gap)
        t0 = time.process_time_ns()
        json.loads(json.dumps(_DATA))
        times.append((time.process_time_ns() - t0) / 1e6)
    times.sort()
    return times[len(times) // 2]


def probe(cpus: set[int], rounds: int = 60) -> dict[str, Any]:
    """``{"busy_ms", "idle_ms"}``: the workload's p50 back to back and after 50 ms idle, on ``cpus``."""
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, cpus)
        _p50(0, 5)  # warm-up
        return {"busy_ms": round(_p50(0, rounds), 2), "idle_ms": round(_p50(0.05, rounds), 2)}
    finally:
        os.sched_setaffinity(0, before)
