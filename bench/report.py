"""Markdown for ``docs/benchmarks.md`` from the results dict of :func:`bench.__main__.run_all`."""

from __future__ import annotations

import math
from typing import Any

from bench.profile_notes import PROFILE_NOTES
from bench.voice_bench import markdown as _voice_table

TARGETS = {
    "added_p50": 2.0,
    "added_p99": 10.0,
    "rps_over_litellm": 3.0,
    "ttft_added": 2.0,
    "switch_visible": 100.0,
    # write returned -> visible on the replica written to (requests still served by the old config)
    "live_stale_same_replica": 0,
    # a one-agent edit at 1,000 agents costs at most this many times the same edit at 10 agents
    "live_rebuild_flatness": 3.0,
}

SECTIONS = [
    "## Targets",
    "## What we found",
    "## Mock provider alone",
    "## Proxy overhead",
    "## magec / LiteLLM",
    "## Config change under load",
    "## Where magec's time goes",
    "## Start-up",
    "## Resilience",
    "## Memory search",
    "## Sessions",
    "## Voice channel",
    "## Scale: turn cost vs session length, long histories",
    "## Live configuration",
    "## Local model",
    "## Method",
]


def _f(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_f(c) for c in r) + " |" for r in rows]
    return out


def _row(rows: list[dict[str, Any]], target: str, mode: str, c: int) -> dict[str, Any] | None:
    return next(
        (r for r in rows if r["target"] == target and r["mode"] == mode and r["concurrency"] == c), None
    )


def evaluate(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured value and whether it is met (None = not measured)."""
    rows = res.get("proxy", {}).get("rows", [])
    cs = [r["concurrency"] for r in rows]
    top = max(cs) if cs else None
    out: list[dict[str, Any]] = []

    def add(name: str, value: Any, limit: float, higher_is_better: bool = False, note: str = "") -> None:
        met = None if value is None else (value >= limit if higher_is_better else value <= limit)
        out.append({"target": name, "measured": value, "limit": limit, "met": met, "note": note,
                    "higher_is_better": higher_is_better})

    m = _row(rows, "magec_openai", "nonstream", top) if top else None
    add(
        f"added p50 at c={top} (magec OpenAI endpoint, ms)", m and m.get("added_p50_ms"), TARGETS["added_p50"]
    )
    add(
        f"added p99 at c={top} (magec OpenAI endpoint, ms)", m and m.get("added_p99_ms"), TARGETS["added_p99"]
    )
    ratio = next((r["rps_magec_over_litellm"] for r in res.get("proxy", {}).get("ratios", [])
                  if r["concurrency"] == top and r["mode"] == "nonstream"), None)  # fmt: skip
    add(f"throughput magec / LiteLLM at c={top} (x)", ratio, TARGETS["rps_over_litellm"], True,
        "" if ratio is not None else "LiteLLM not measured")  # fmt: skip
    paced = res.get("ttft_paced") if isinstance(res.get("ttft_paced"), list) else []
    for c in sorted({r["concurrency"] for r in paced}):
        if c in (1, top):
            s = next((r for r in paced if r["target"] == "magec_openai" and r["concurrency"] == c), None)
            add(f"TTFT overhead p50 at c={c}, paced stream (magec OpenAI endpoint, ms)", s and s.get("ttft_added_p50_ms"),
                TARGETS["ttft_added"])  # fmt: skip
    sw = res.get("config_change") or {}
    add("config change visible, worst round (ms)", sw.get("visible_ms_max"), TARGETS["switch_visible"])
    add("dropped streams during config changes", sw.get("dropped_total"), 0)
    live = (res.get("live") or {}).get("result") or {}
    same = live.get("same_replica") or {}
    add("requests served by the old config right after a write returned (same replica)",
        same.get("stale_first_requests"), TARGETS["live_stale_same_replica"])  # fmt: skip
    rebuild = live.get("rebuild") or []
    add(f"one-agent edit rebuild at {rebuild[-1]['agents'] if rebuild else '?'} agents / at {rebuild[0]['agents'] if rebuild else '?'} (x)",
        rebuild[-1]["rebuild_vs_smallest"] if rebuild else None, TARGETS["live_rebuild_flatness"])  # fmt: skip
    return out


def findings(res: dict[str, Any]) -> list[str]:
    out: list[str] = []
    rows = res.get("proxy", {}).get("rows", [])
    cap = res.get("mock_capacity") or {}
    raw = cap.get("raw_nonstream") or {}
    top = max((r["concurrency"] for r in rows), default=None)
    m = _row(rows, "magec_openai", "nonstream", top) if top else None
    if raw and m:
        out.append(
            f"The mock is not the bottleneck: alone it serves {_f(raw.get('rps'), 0)} req/s on raw sockets at "
            f"{_f(raw.get('mock_cpu_us_per_req'), 0)} µs of CPU per request, while magec spends "
            f"{_f(m.get('server_cpu_ms_per_req'), 2)} ms of CPU per request at c={top} "
            f"({_f(m.get('rps'), 0)} req/s)."
        )
    for e in evaluate(res):
        if e["met"] is False:
            out.append(
                f"Missed: {e['target']} = {_f(e['measured'])} (target {'≥' if e['higher_is_better'] else '≤'} {_f(e['limit'])})."
            )
    met = [e["target"] for e in evaluate(res) if e["met"]]
    if met:
        out.append("Met: " + "; ".join(met) + ".")
    d1 = _row(rows, "direct", "nonstream", 1)
    m1 = _row(rows, "magec_openai", "nonstream", 1)
    if d1 and m1 and m1.get("server_cpu_ms_per_req"):
        out.append(
            f"At c=1 magec adds {_f(m1.get('added_p50_ms'))} ms at p50 over a direct SDK call "
            f"({_f(d1['p50_ms'])} ms); its server burns {_f(m1['server_cpu_ms_per_req'])} ms CPU per request, "
            f"so one core tops out near {_f(1000 / m1['server_cpu_ms_per_req'], 0)} req/s — the added latency "
            f"at high concurrency is queueing behind that CPU cost."
        )
    lite = _row(rows, "litellm", "nonstream", top) if top else None
    if lite and m and lite.get("server_cpu_ms_per_req"):
        out.append(
            f"LiteLLM spends {_f(lite['server_cpu_ms_per_req'])} ms CPU per request at c={top} "
            f"({_f(lite['rps'], 0)} req/s) vs magec's {_f(m.get('server_cpu_ms_per_req'))} ms ({_f(m['rps'], 0)} req/s)."
        )
    return out


def _speed(speed: dict[str, Any] | None) -> list[str]:
    """The host-speed probe's line (bench/hostspeed.py), when the run measured it."""
    if not speed:
        return []
    return [
        f"**Host speed at start** (`bench/hostspeed.py`: a fixed JSON workload on the server's CPU, p50 of "
        f"CPU time): {speed['busy_ms']} ms back to back, {speed['idle_ms']} ms after 50 ms idle. The c=1 "
        "rows are absolute times: on a host that runs this workload slower, or much slower after idle "
        "spells (a c=1 request always follows one), they are slower with it.",
        "",
    ]


def render(res: dict[str, Any]) -> str:
    mach = res["machine"]
    L: list[str] = [
        "# Benchmarks",
        "",
        f"_Generated by `python -m bench{' --smoke' if res.get('smoke') else ''}` on {res['date']} "
        f"in {res['elapsed_s']:.0f} s. Do not edit by hand: rerun the bench._",
        "",
        f"**Machine:** {mach['cpu_model']}, {mach['cores']} cores (load average at start "
        f"{mach['loadavg']}), {mach['memory_gb']} GB RAM, Python {mach['python']}, Linux {mach['kernel']}. "
        f"**Pinning:** {mach['pinning']}.",
        "",
        *_speed(mach.get("speed")),
        "Machines here are shared and noisy: compare numbers *within* this page (one run, side by side), "
        "never across runs. Added latency = the percentile of the target minus the same percentile of "
        "the direct call measured minutes apart in the same run (not a per-request difference).",
        "",
        "## Targets",
        "",
    ]
    L += _table(["Target", "Measured", "Limit", "Met"],
                [[e["target"], e["measured"], e["limit"], {True: "yes", False: "**no**", None: "not measured"}[e["met"]]]
                 for e in evaluate(res)])  # fmt: skip
    L += ["", "## What we found", ""]
    L += [f"- {f}" for f in findings(res)]
    L += ["", PROFILE_NOTES.strip(), ""]

    L += ["## Mock provider alone", ""]
    cap = res.get("mock_capacity")
    if cap:
        L += _table(
            ["Client", "Concurrency", "req/s", "mock CPU µs/req", "mock CPU share"],
            [
                ["raw sockets, keep-alive, non-stream", cap["raw_nonstream"]["connections"], cap["raw_nonstream"]["rps"],
                 cap["raw_nonstream"]["mock_cpu_us_per_req"], cap["raw_nonstream"]["mock_cpu_share"]],
                ["httpx2, stream (16 tokens)", cap["raw_stream"]["connections"], cap["raw_stream"]["rps"],
                 cap["raw_stream"]["mock_cpu_us_per_req"], cap["raw_stream"]["mock_cpu_share"]],
                ["openai SDK, non-stream", cap["sdk_nonstream"]["concurrency"], cap["sdk_nonstream"]["rps"],
                 cap["sdk_nonstream"]["mock_cpu_us_per_req"], cap["sdk_nonstream"]["mock_cpu_share"]],
            ],
        )  # fmt: skip
        L += ["", "The client shares a core with the mock here, so req/s is a floor of the mock's capacity; "
              "its CPU per request is the figure to compare with the servers' below."]  # fmt: skip
    else:
        L.append("not measured")

    proxy = res.get("proxy") or {}
    L += ["", "## Proxy overhead", ""]
    if proxy.get("rows"):
        L.append(f"Model `{proxy['model']}` (16 tokens, no per-token delay): every millisecond is proxy cost. "
                 "magec requests open a new session each (no `X-Session-Id` / `sessionId`).")  # fmt: skip
        for c in sorted({r["concurrency"] for r in proxy["rows"]}):
            L += ["", f"### Concurrency {c}", ""]
            L += _table(
                ["Target", "Mode", "req/s", "p50 ms", "p95 ms", "p99 ms", "added p50", "added p95", "added p99",
                 "TTFT p50", "TTFT added p50", "TTFT added p99", "server CPU ms/req", "server peak RSS MB", "errors"],
                [[r["target"], r["mode"], r["rps"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r.get("added_p50_ms"),
                  r.get("added_p95_ms"), r.get("added_p99_ms"), r.get("ttft_p50_ms"), r.get("ttft_added_p50_ms"),
                  r.get("ttft_added_p99_ms"), r.get("server_cpu_ms_per_req"), r.get("server_peak_rss_mb"), r["errors"]]
                 for r in proxy["rows"] if r["concurrency"] == c],
            )  # fmt: skip
        paced = res.get("ttft_paced") if isinstance(res.get("ttft_paced"), list) else []
        if paced:
            L += ["", "### Time to first token, paced stream", "",
                  "Model `mock-t16-d20` (16 tokens, 20 ms apart, like a real model). With a zero-delay upstream "
                  "(tables above) every token arrives in one read and TTFT is nearly the whole turn; here the first "
                  "token really comes first, so *TTFT added* is the proxy's time-to-first-byte cost.", ""]  # fmt: skip
            L += _table(
                ["Target", "Concurrency", "TTFT p50", "TTFT p95", "TTFT p99", "TTFT added p50", "TTFT added p99", "total p50", "errors"],
                [[r["target"], r["concurrency"], r.get("ttft_p50_ms"), r.get("ttft_p95_ms"), r.get("ttft_p99_ms"),
                  r.get("ttft_added_p50_ms"), r.get("ttft_added_p99_ms"), r["p50_ms"], r["errors"]] for r in paced],
            )  # fmt: skip
        L += ["", "Baselines: SDK targets (magec OpenAI endpoint, LiteLLM) and `/run_sse` are compared with "
              "`direct` (openai SDK → mock, same mode); `/run` (plain HTTP client) with `direct_raw` "
              "(one httpx2 POST → mock)."]  # fmt: skip
    else:
        L.append(proxy.get("note", "not measured"))

    L += ["", "## magec / LiteLLM", ""]
    lite = res.get("litellm") or {}
    L.append(lite.get("note", ""))
    if proxy.get("ratios"):
        L.append("")
        L += _table(
            ["Mode", "Concurrency", "req/s magec ÷ LiteLLM", "p50 LiteLLM ÷ magec", "p99 LiteLLM ÷ magec",
             "CPU/req LiteLLM ÷ magec"],
            [[r["mode"], r["concurrency"], r["rps_magec_over_litellm"], r["p50_latency_litellm_over_magec"],
              r["p99_latency_litellm_over_magec"], r.get("cpu_per_req_litellm_over_magec")] for r in proxy["ratios"]],
        )  # fmt: skip
    if lite.get("startup_s") is not None:
        L += ["", f"LiteLLM proxy start-up to healthy: {_f(lite['startup_s'], 1)} s."]

    L += ["", "## Config change under load", ""]
    sw = res.get("config_change")
    if sw and sw.get("rounds"):
        L.append(
            f"{sw['streams']} streams (`{sw['stream_model']}`, ~1 s each) run on the agent through "
            "`/v1/chat/completions`; once all have their first token the agent's backend is switched "
            "(A ↔ B) with `PUT /api/v1/admin/agents/{id}` while a prober sends back-to-back requests. "
            "*visible* = first request reaching the new mock − start of the PUT (server side); *probe* = "
            "first probe answer from the new mock − start of the PUT. The PUT answers once the runtime "
            "serves the change (read-your-writes), so *visible* ≤ *PUT*."
        )
        L.append("")
        L += _table(["Round", "visible ms", "probe ms", "PUT ms", "streams", "dropped", "stream p50 s"],
                    [[f"{r['from']}→{r['to']}", r["visible_ms"], r["probe_ms"], r["put_ms"], r["streams"],
                      r["dropped"], r["stream_p50_s"]] for r in sw["rounds"]])  # fmt: skip
        L += ["", f"Median visible {_f(sw['visible_ms_median'], 1)} ms, worst {_f(sw['visible_ms_max'], 1)} ms; "
              f"dropped streams in total: {sw['dropped_total']}."]  # fmt: skip
    else:
        L.append((sw or {}).get("note", "not measured"))

    L += ["", "## Where magec's time goes", ""]
    L += _external(res.get("breakdown"), _breakdown_table)
    L += ["", "## Start-up", ""]
    st = res.get("startup")
    if st and "fresh_s" in st:
        L.append(f"`magec serve` to healthy (both ports), median of {st['runs']}: fresh data dir "
                 f"{_f(st['fresh_s'])} s (migrations included), restart on the same dir {_f(st['restart_s'])} s "
                 f"(±{st['resolution_s']} s: `ServerProcess` polls every {round(st['resolution_s'] * 1000)} ms).")  # fmt: skip
        if st.get("stop_s") is not None:
            L.append(f"An idle server's stop (SIGTERM to the process's exit), median of {2 * st['runs']}: "
                     f"{_f(st['stop_s'])} s.")
    else:
        L.append((st or {}).get("note", "not measured"))

    L += ["", "## Memory search", ""]
    L += _external(res.get("memory"), _memory_table)
    L += ["", "## Sessions", ""]
    L += _external(res.get("session"), _session_table)
    L += ["", "## Voice channel", ""]
    L += _external(res.get("voice"), _voice_table)
    L += ["", "## Live configuration", ""]
    L += _external(res.get("live"), _live_table)
    L += ["", "## Scale: several processes (`--workers`)", ""]
    L += _external(res.get("workers"), workers_table)
    L += ["", "## Resilience", ""]
    L += _external(res.get("resilience"), _resilience_table)
    L += ["", "## Conversation audit", ""]
    L += _external(res.get("audit"), audit_table)
    L += ["", "## Scale: turn cost vs session length, long histories", ""]
    L += _external(res.get("scale"), scale_table)
    L += ["", "## Scale: the token path", ""]
    L += _external(res.get("tokens"), token_table)
    L += ["", "## Scale: no collapse under load", ""]
    L += _external(res.get("load"), load_table)
    L += ["", "## Local model", ""]
    L += _external(res.get("local"), _local_table)

    L += ["", "## Method", "", *METHOD.strip().splitlines(), ""]
    return "\n".join(L)


def scale_table(r: dict[str, Any]) -> list[str]:
    from bench.scale_bench import report_lines

    return report_lines(r)


def token_table(r: dict[str, Any]) -> list[str]:
    from bench.token_bench import report_lines

    return report_lines(r)


def load_table(r: dict[str, Any]) -> list[str]:
    from bench.load_bench import report_lines

    return report_lines(r)


def audit_table(r: dict[str, Any]) -> list[str]:
    from bench.audit_bench import report_lines

    return report_lines(r)


def _external(block: dict[str, Any] | None, table: Any) -> list[str]:
    if not block:
        return ["not run"]
    if not block.get("available"):
        return [f"not available: {block.get('reason', '?')}"]
    lines = [f"`{block['module']}.run({_args(block.get('args'))})`, {block.get('elapsed_s')} s."
             if block.get("module") else ""]  # fmt: skip
    try:
        return lines + [""] + table(block["result"])
    except (KeyError, TypeError, ValueError) as e:  # another engineer's output shape changed
        return lines + [
            "",
            f"(unexpected result shape: {e!r})",
            "",
            "```",
            str(block["result"])[:2000],
            "```",
        ]


def _args(a: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (a or {}).items())


def workers_table(r: dict[str, Any]) -> list[str]:
    from bench.workers_bench import report_lines

    return report_lines(r)


def _memory_table(r: dict[str, Any]) -> list[str]:
    from bench.memory_bench import report_lines

    return report_lines(r)


def _session_table(r: dict[str, Any]) -> list[str]:
    rows = [
        [name, s.get("ms_per_turn"), s.get("p50_ms"), s.get("p99_ms")] for name, s in r["services"].items()
    ]
    out = _table(["Session service", "ms per turn (wall / turns)", "turn p50 ms", "turn p99 ms"], rows)
    if r.get("ratios"):
        out += ["", "Ratios: " + ", ".join(f"{k} = {v}" for k, v in r["ratios"].items()) + "."]
    return out


def _resilience_table(r: dict[str, Any]) -> list[str]:
    fb = r["fallback"]
    out = [
        f"Time to answer on `/run` when the agent's primary backend cannot answer and its fallback can "
        f"(connect deadline {_f(fb['connect_timeout_ms'], 0)} ms, {fb['turns']} turns per case, cases "
        "interleaved); *extra* is the median minus the reference (the same agent on the fallback "
        "directly). Target: extra ≤ the connect deadline (one fallback call on top); ≈ 0 with the "
        "primary's breaker open.",
        "",
    ]
    out += _table(["case", "p50 ms", "max ms", "extra ms", "target extra ms", "met"],
                  [[name, c["p50_ms"], c["max_ms"], c["extra_ms"], c["target_extra_ms"],
                    "yes" if c["within_target"] else "NO"] for name, c in fb["cases"].items()])  # fmt: skip
    ov = r["overhead"]
    out += ["", f"Happy-path cost of the resilience layer (fallback chain + circuit breaker + deadlines/retry "
            f"policy) around one non-streamed chat call to the loopback mock: {_f(ov['layered_us'], 0)} µs "
            f"layered vs {_f(ov['bare_us'], 0)} µs for the bare vendor attempt (median of {ov['rounds']} "
            f"interleaved rounds of {ov['calls_per_round']} calls): difference {_f(ov['overhead_us'], 0)} µs, "
            f"round-to-round noise ±{_f(ov['noise_us'], 0)} µs (ratio {ov['ratio']}) — "
            + ("within the noise." if ov["within_noise"] else "ABOVE the noise.")]  # fmt: skip
    return out


def _live_table(r: dict[str, Any]) -> list[str]:
    out = [
        "One agent's system prompt edited through the Admin API with N agents stored (SQLite). The "
        "PUT returns once the runtime serves the edit; *rebuild* is the part of it spent bringing the "
        "runtime up to date; *full* is a rebuild of every app (what every edit cost before "
        "incremental rebuilds), measured in the same run.",
        "",
    ]
    out += _table(["agents", "PUT p50 ms", "rebuild p50 ms", "apps built per edit", "full rebuild ms",
                   "full / incremental", "rebuild vs smallest N"],
                  [[x["agents"], x["put_ms_p50"], x["rebuild_ms_p50"], x["apps_built_per_edit"],
                    x["full_rebuild_ms_p50"], x["full_over_incremental"], x["rebuild_vs_smallest"]]
                   for x in r.get("rebuild", [])])  # fmt: skip
    same = r.get("same_replica") or {}
    out += ["", f"Same replica: {same.get('rounds')} backend switches, the request sent the moment each PUT "
            f"answered was served by the old backend {same.get('stale_first_requests')} times "
            f"(write-returned → visible: {_f(same.get('visible_after_return_ms'), 1)} ms)."]  # fmt: skip
    two = r.get("second_replica") or {}
    if "error" in two:
        out += ["", f"Second replica: not measured ({two['error']})."]
    else:
        out += ["", f"Second replica (two `magec serve` on one PostgreSQL, LISTEN/NOTIFY): {two.get('rounds')} "
                f"writes on one; the first request to the other was already fresh in "
                f"{two.get('fresh_on_first_request')} of them; N (write returned → first fresh request "
                f"started) p50 {_f(two.get('n_ms_p50'))} ms, worst {_f(two.get('n_ms_max'))} ms."]  # fmt: skip
    return out


def _breakdown_table(r: dict[str, Any]) -> list[str]:
    out = [
        "In-process ablation, one layer at a time, sequential turns on the server's CPU (see "
        "`bench/breakdown.py`). `+a2a_fix` = ADK's failing optional import short-circuited (now done "
        "by `magec.runtime.build` at import; the runs without it restore ADK's stock behaviour). "
        f"One failing import costs {_f(r.get('failing_import_ms'), 3)} ms here.",
        "",
    ]
    rows = [[name, s["wall_ms"], s["cpu_ms"]] for name, s in r["steps"].items()]
    return out + _table(["Step", "wall ms/turn", "CPU ms/turn"], rows)


def _local_table(r: dict[str, Any]) -> list[str]:
    keys = [
        "model",
        "load_s",
        "first_token_s",
        "tokens_per_s",
        "decode_tokens_per_s",
        "tokens",
        "turns",
        "embed_batch32_s",
    ]
    out = _table(["Metric", "Value"], [[k, r.get(k)] for k in keys if k in r])
    side = r.get("side_by_side")
    if side:  # issue "Scale", goal 8: the same requests through magec and through llama.cpp alone
        out += ["", f"Through magec vs llama-cpp-python alone (same messages and arguments, {side['threads']} threads, "
                f"max_tokens {side['max_tokens']}, best of {len(side['rounds'])} alternating rounds; median ratio "
                f"{side.get('median_ratio')}×):", "",
                "| magec tokens/s | llama.cpp tokens/s | ratio | target | |", "|---|---|---|---|---|",
                f"| {side['magec_tokens_per_s']} | {side['direct_tokens_per_s']} | {side['ratio']}× | "
                f"≥ {side['target']}× | {side['verdict']} |"]  # fmt: skip
    return out


METHOD = """
- **Mock provider** (`bench/mock_provider.py`): its own process, raw asyncio protocol on uvloop with
  httptools parsing and precomputed response bytes; non-stream, SSE stream (chunked) and embeddings.
  The first token is `[A]` or `[B]`, naming the mock that answered. Model names carry the shape
  (`mock-t16` = 16 tokens; `mock-t100-d10` = 100 tokens, 10 ms apart), so proxies pass it through.
- **Load generator** (`bench/loadgen.py`): closed loop, `concurrency` workers share a fixed request
  budget after a discarded warm-up at the same concurrency; the official `openai` SDK (over httpx2)
  for OpenAI-shaped targets, httpx2 for magec's run API. It runs in the bench process.
- **Servers**: `magec serve` through `magec.testing.server.ServerProcess` (SQLite, one process, an
  `openai` backend per mock, agent `bench` on mock A); LiteLLM proxy (`litellm --num_workers 1`,
  no database, log level ERROR) in `.bench-venv/litellm`, installed by the bench when missing.
  Both are up for the whole matrix and measured back to back per concurrency.
- **Server CPU ms/req** = (user + system CPU seconds of the server's process tree over the
  scenario) ÷ requests (warm-up included). It is the least noise-sensitive number here: it does
  not count time the server waited for a CPU that another process held.
- **RSS** = the server's process tree, sampled every 100 ms; peak per scenario.
- Sub-benchmarks by other engineers (`memory_bench`, `session_bench`, `local_bench`) run through
  their `run()` in child processes (unpinned); missing or failing ones are reported as not available.
"""
