"""The benchmark pipeline works end to end (``python -m bench --smoke``, LiteLLM skipped).

Checks the structure of the results and of the report, never timings: CI machines are noisy and
performance is judged from ``docs/benchmarks.md`` (ratios measured side by side in one run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.external import local_extra_installed
from bench.report import SECTIONS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(480)
def test_bench_smoke(tmp_path: Path) -> None:
    report, results = tmp_path / "benchmarks.md", tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--no-litellm",
            "--output",
            str(report),
            "--json",
            str(results),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=460,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads(results.read_text())

    # the mock is measured alone
    cap = res["mock_capacity"]
    assert {"raw_nonstream", "raw_stream", "sdk_nonstream"} <= cap.keys()
    assert cap["raw_nonstream"]["requests"] > 0

    # every target x mode x concurrency ran without errors, with the derived columns
    rows = res["proxy"]["rows"]
    got = {(r["target"], r["mode"], r["concurrency"]) for r in rows}
    for c in res["plan"]["concurrency"]:
        for target, mode in [("direct", "nonstream"), ("direct", "stream"), ("direct_raw", "nonstream"),
                             ("magec_openai", "nonstream"), ("magec_openai", "stream"),
                             ("magec_run", "nonstream"), ("magec_run_sse", "stream")]:  # fmt: skip
            assert (target, mode, c) in got
    for r in rows:
        assert r["errors"] == 0, r
        assert r["requests"] > 0 and r["rps"] > 0
        assert {"p50_ms", "p95_ms", "p99_ms"} <= r.keys()
        if r["target"].startswith("magec"):
            assert {"added_p50_ms", "added_p99_ms", "server_cpu_ms_per_req", "server_peak_rss_mb"} <= r.keys()
        if r["mode"] == "stream":
            assert "ttft_p50_ms" in r
    assert res["proxy"]["ratios"] == []  # LiteLLM skipped
    assert "skipped" in res["litellm"]["note"]

    # config change: measured, visible, nothing dropped
    sw = res["config_change"]
    assert sw["rounds"] and sw["dropped_total"] == 0
    assert all(r["visible_ms"] is not None and r["streams"] > 0 for r in sw["rounds"])

    assert res["startup"]["fresh_s"] > 0
    # every section in its own process ran to its end: the test command installs all each needs
    # (PostgreSQL with pgvector, the local models); a bench that crashes says so here
    for key in ("memory", "session", "voice", "live", "workers", "audit", "load"):
        assert res[key]["available"], (key, res[key].get("reason"))
    if local_extra_installed():
        assert res["local"]["available"], res["local"].get("reason")
    else:
        assert "not installed" in res["local"]["reason"]
    assert res["failures"] == []
    # resilience: every fallback case answered (a failed turn raises in the bench), with both figures
    rz = res["resilience"]
    assert rz["available"], rz
    cases = rz["result"]["fallback"]["cases"]
    assert {"primary refuses connections", "primary connection hangs"} <= cases.keys()
    assert all("extra_ms" in c for c in cases.values())
    assert {"bare_us", "layered_us", "noise_us"} <= rz["result"]["overhead"].keys()

    # scale: both goals measured, each row with its figures (never judged on timings here)
    sc = res["scale"]
    assert sc["available"], sc
    assert [row["guard"] for row in sc["result"]["session_length"]] == [True, False]
    assert all(row["cpu_ms_short"] > 0 and row["cpu_ms_long"] > 0 for row in sc["result"]["session_length"])
    assert [h["messages"] for h in sc["result"]["long_history"]] == [500]

    text = report.read_text()
    for section in SECTIONS:
        assert section in text, section
    assert "**Machine:**" in text and "## Targets" in text
    speed = res["machine"]["speed"]  # the host-speed probe, printed beside the machine
    assert speed["busy_ms"] > 0 and speed["idle_ms"] > 0 and f"{speed['busy_ms']} ms back to back" in text
