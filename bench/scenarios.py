"""The measured scenarios: mock capacity, the proxy-overhead matrix, and config-change latency."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx2

from bench import loadgen
from bench.loadgen import Call, LoadResult, Sample
from bench.procs import LiteLLM, Magec, Mock, Monitor

MODEL = "mock-t16"  # 16 tokens, no per-token delay: pure overhead, nothing to hide behind
SWITCH_MODEL = "mock-t100-d10"  # streams of 100 tokens x 10 ms (~1 s) that span a config change
PACED_MODEL = "mock-t16-d20"  # a paced stream (20 ms per token, like a real model): TTFT is meaningful


@dataclass(frozen=True)
class Plan:
    concurrency: tuple[int, ...]
    requests: dict[int, int]
    warmup: dict[int, int]
    capacity_seconds: float
    switch_rounds: int
    switch_streams: int
    paced_requests: dict[int, int]

    @classmethod
    def full(cls) -> Plan:
        return cls(
            (1, 16, 64),
            {1: 200, 16: 800, 64: 1600},
            {1: 20, 16: 64, 64: 128},
            3.0,
            5,
            16,
            {1: 60, 16: 320, 64: 640},
        )

    @classmethod
    def smoke(cls) -> Plan:
        return cls((1, 4), {1: 10, 4: 20}, {1: 2, 4: 4}, 0.5, 1, 4, {1: 4, 4: 8})


# ---------------------------------------------------------------- mock alone


async def mock_capacity(mock: Mock, plan: Plan) -> dict[str, Any]:
    """The mock's own ceiling, two ways: raw keep-alive sockets (no client library) and the openai
    SDK at the highest concurrency; with the mock's CPU seconds per request (its real cost)."""
    out: dict[str, Any] = {}
    body = json.dumps({"model": MODEL, "messages": loadgen.PROMPT}).encode()
    stream_body = json.dumps({"model": MODEL, "messages": loadgen.PROMPT, "stream": True}).encode()
    for name, payload in (("raw_nonstream", body), ("raw_stream", stream_body)):
        with Monitor(mock.proc.pid) as mon:
            r = await _raw(mock, payload, plan)
        r["mock_cpu_us_per_req"] = round(mon.usage.cpu_s / max(r["requests"], 1) * 1e6, 1)
        r["mock_cpu_share"] = round(mon.usage.cpu_s / plan.capacity_seconds, 2)
        out[name] = r
    c = max(plan.concurrency)
    client = loadgen.openai_client(mock.base_url)
    with Monitor(mock.proc.pid) as mon:
        res = await loadgen.run_load(
            loadgen.openai_call(client, MODEL, False), c, plan.requests[c], plan.warmup[c]
        )
    await client.close()
    s = res.summary()
    out["sdk_nonstream"] = {
        "concurrency": c, "rps": s["rps"], "p50_ms": s["p50_ms"],
        "mock_cpu_us_per_req": round(mon.usage.cpu_s / max(res.requests + plan.warmup[c], 1) * 1e6, 1),
        "mock_cpu_share": round(mon.usage.cpu_s / max(res.wall_s, 1e-9), 2),
    }  # fmt: skip
    return out


async def _raw(mock: Mock, payload: bytes, plan: Plan) -> dict[str, Any]:
    if b'"stream": true' not in payload:
        return await loadgen.raw_capacity(
            "127.0.0.1", mock.port, "/v1/chat/completions", payload, 16, plan.capacity_seconds
        )
    # streaming responses are chunked: count them through httpx2 instead of the raw reader
    client = loadgen.http_client()
    done = 0
    deadline = time.perf_counter() + plan.capacity_seconds
    url = f"{mock.base_url}/chat/completions"

    async def conn() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with client.stream(
                "POST", url, content=payload, headers={"content-type": "application/json"}
            ) as r:
                async for _ in r.aiter_raw():
                    pass
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(16)))
    wall = time.perf_counter() - t0
    await client.aclose()
    return {"connections": 16, "requests": done, "rps": round(done / wall, 1), "client": "httpx2 (stream)"}


# ---------------------------------------------------------------- proxy overhead matrix


@dataclass
class Target:
    name: str  # direct | direct_raw | magec_openai | magec_run | magec_run_sse | litellm
    mode: str  # nonstream | stream
    call: Call
    pid: int | None  # server process to monitor (None: direct)
    baseline: str  # which direct row to subtract


def targets(
    mock: Mock, magec: Magec | None, agent_id: str | None, litellm: LiteLLM | None
) -> tuple[list[Target], list[Any]]:
    clients: list[Any] = []
    sdk_mock = loadgen.openai_client(mock.base_url)
    raw = loadgen.http_client()
    clients += [sdk_mock, raw]
    out = [
        Target("direct", "nonstream", loadgen.openai_call(sdk_mock, MODEL, False), None, "direct"),
        Target("direct", "stream", loadgen.openai_call(sdk_mock, MODEL, True), None, "direct"),
        Target("direct_raw", "nonstream", loadgen.raw_chat_call(raw, f"{mock.base_url}/chat/completions", MODEL), None, "direct_raw"),
    ]  # fmt: skip
    if magec is not None and agent_id is not None:
        sdk_magec = loadgen.openai_client(f"{magec.server.user_url}/v1")
        user = loadgen.http_client()
        clients += [sdk_magec, user]
        base = f"{magec.server.user_url}/api/v1/agent"
        out += [
            Target("magec_openai", "nonstream", loadgen.openai_call(sdk_magec, agent_id, False), magec.pid, "direct"),
            Target("magec_openai", "stream", loadgen.openai_call(sdk_magec, agent_id, True), magec.pid, "direct"),
            Target("magec_run", "nonstream", loadgen.run_call(user, f"{base}/run", agent_id), magec.pid, "direct_raw"),
            Target("magec_run_sse", "stream", loadgen.run_sse_call(user, f"{base}/run_sse", agent_id), magec.pid, "direct"),
        ]  # fmt: skip
    if litellm is not None:
        sdk_lite = loadgen.openai_client(litellm.base_url, api_key=litellm.master_key)
        clients.append(sdk_lite)
        out += [
            Target(
                "litellm", "nonstream", loadgen.openai_call(sdk_lite, MODEL, False), litellm.pid, "direct"
            ),
            Target("litellm", "stream", loadgen.openai_call(sdk_lite, MODEL, True), litellm.pid, "direct"),
        ]
    return out, clients


async def close_clients(clients: list[Any]) -> None:
    for c in clients:
        close = getattr(c, "aclose", None) or c.close
        await close()


async def proxy_matrix(plan: Plan, tgts: list[Target], progress: Any = print) -> list[dict[str, Any]]:
    """For each concurrency, every target back to back (so a noisy minute hits all of them alike)."""
    rows: list[dict[str, Any]] = []
    for c in plan.concurrency:
        by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for t in tgts:
            res, usage = await _measure(t, c, plan)
            row = {"target": t.name, "mode": t.mode, **res.summary()}
            if usage is not None:
                n = res.requests + plan.warmup[c]
                row["server_cpu_ms_per_req"] = round(usage.cpu_s / n * 1000, 3)
                row["server_peak_rss_mb"] = round(usage.peak_rss_mb, 1)
            by_key[(t.name, t.mode)] = row
            rows.append(row)
            progress(f"  c={c:<3} {t.name:<14} {t.mode:<9} {row['rps']:>8.1f} req/s  p50 {row['p50_ms']:.2f} ms"
                     f"  p99 {row['p99_ms']:.2f} ms  errors {row['errors']}")  # fmt: skip
        for t in tgts:
            row = by_key[(t.name, t.mode)]
            base = by_key.get((t.baseline, t.mode)) or by_key.get((t.baseline, "nonstream"))
            if base is None or t.name in ("direct", "direct_raw"):
                continue
            row["baseline"] = f"{t.baseline} {base['mode']}"
            for p in ("p50", "p95", "p99"):
                row[f"added_{p}_ms"] = round(row[f"{p}_ms"] - base[f"{p}_ms"], 3)
            if "ttft_p50_ms" in row and "ttft_p50_ms" in base:
                for p in ("p50", "p99"):
                    row[f"ttft_added_{p}_ms"] = round(row[f"ttft_{p}_ms"] - base[f"ttft_{p}_ms"], 3)
    return rows


async def _measure(t: Target, c: int, plan: Plan) -> tuple[LoadResult, Any]:
    if t.pid is None:
        return await loadgen.run_load(t.call, c, plan.requests[c], plan.warmup[c]), None
    with Monitor(t.pid) as mon:
        res = await loadgen.run_load(t.call, c, plan.requests[c], plan.warmup[c])
    return res, mon.usage


async def ttft_paced(plan: Plan, mock: Mock, magec: Magec | None, paced_agent: str | None,
                     litellm: LiteLLM | None, progress: Any = print) -> list[dict[str, Any]]:  # fmt: skip
    """Time to first token on a paced stream (PACED_MODEL), where the first token is really first:
    with a zero-delay upstream all tokens arrive in one read and TTFT is nearly the whole turn."""
    clients: list[Any] = [loadgen.openai_client(mock.base_url)]
    tgts = [("direct", loadgen.openai_call(clients[0], PACED_MODEL, True))]
    if magec is not None and paced_agent is not None:
        clients.append(loadgen.openai_client(f"{magec.server.user_url}/v1"))
        tgts.append(("magec_openai", loadgen.openai_call(clients[-1], paced_agent, True)))
    if litellm is not None:
        clients.append(loadgen.openai_client(litellm.base_url, api_key=litellm.master_key))
        tgts.append(("litellm", loadgen.openai_call(clients[-1], PACED_MODEL, True)))
    rows: list[dict[str, Any]] = []
    try:
        for c in plan.concurrency:
            base: dict[str, Any] | None = None
            for name, call in tgts:
                res = await loadgen.run_load(call, c, plan.paced_requests[c], min(c, plan.warmup[c]))
                row = {"target": name, **res.summary()}
                if base is None:
                    base = row
                else:
                    for p in ("p50", "p95", "p99"):
                        row[f"ttft_added_{p}_ms"] = round(row[f"ttft_{p}_ms"] - base[f"ttft_{p}_ms"], 3)
                rows.append(row)
                progress(f"  c={c:<3} {name:<13} TTFT p50 {row.get('ttft_p50_ms')} ms p99 {row.get('ttft_p99_ms')} ms"
                         f"  added p50 {row.get('ttft_added_p50_ms', '-')}  errors {row['errors']}")  # fmt: skip
    finally:
        await close_clients(clients)
    return rows


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """magec / LiteLLM at each concurrency and mode (throughput, added latency, CPU per request)."""
    out = []
    idx = {(r["target"], r["mode"], r["concurrency"]): r for r in rows}
    for (name, mode, c), m in idx.items():
        if name != "magec_openai" or ("litellm", mode, c) not in idx:
            continue
        lite = idx[("litellm", mode, c)]
        entry: dict[str, Any] = {"mode": mode, "concurrency": c,
                                 "rps_magec_over_litellm": _div(m["rps"], lite["rps"])}  # fmt: skip
        for p in ("p50", "p99"):
            entry[f"{p}_latency_litellm_over_magec"] = _div(lite[f"{p}_ms"], m[f"{p}_ms"])
        if m.get("server_cpu_ms_per_req") and lite.get("server_cpu_ms_per_req"):
            entry["cpu_per_req_litellm_over_magec"] = _div(
                lite["server_cpu_ms_per_req"], m["server_cpu_ms_per_req"]
            )
        out.append(entry)
    return out


def _div(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


# ---------------------------------------------------------------- config change


async def config_change(magec: Magec, agent_id: str, mocks: dict[str, Mock], backends: dict[str, str],
                        plan: Plan, progress: Any = print) -> dict[str, Any]:  # fmt: skip
    """Switch the agent's backend A <-> B while ``switch_streams`` streams run on it.

    Per round: start the streams and wait until each has its first token; reset the new mock's
    counters; T0; PUT the agent with the other backend. Meanwhile a prober sends back-to-back
    non-stream requests to the same agent. Measured: ``visible_ms`` = first request arriving at the
    new mock − T0 (server side, CLOCK_MONOTONIC in both processes); ``probe_ms`` = completion of the
    first probe answered by the new mock − T0; ``put_ms`` = the Admin API call itself. A stream is
    *dropped* when it errors, ends without a finish reason, or was not served whole by the old mock.
    """
    client = loadgen.openai_client(f"{magec.server.user_url}/v1")
    rounds: list[dict[str, Any]] = []
    current = next(k for k, v in backends.items() if v == _agent(magec, agent_id)["llm"]["backend"])
    for _ in range(plan.switch_rounds):
        new = next(k for k in backends if k != current)
        rnd = await _switch_round(
            client, magec, agent_id, mocks[new], backends[new], current, plan.switch_streams
        )
        rounds.append(rnd)
        progress(f"  switch {current}->{new}: visible {rnd['visible_ms']} ms (probe {rnd['probe_ms']} ms, "
                 f"PUT {rnd['put_ms']} ms), dropped {rnd['dropped']}/{rnd['streams']}")  # fmt: skip
        current = new
    await client.close()
    vis = sorted(r["visible_ms"] for r in rounds if r["visible_ms"] is not None)
    return {
        "streams": plan.switch_streams,
        "stream_model": SWITCH_MODEL,
        "rounds": rounds,
        "visible_ms_median": vis[len(vis) // 2] if vis else None,
        "visible_ms_max": vis[-1] if vis else None,
        "dropped_total": sum(r["dropped"] for r in rounds),
    }


async def _switch_round(client: Any, magec: Magec, agent_id: str, new_mock: Mock, new_backend: str,
                        old: str, n_streams: int) -> dict[str, Any]:  # fmt: skip
    new = new_mock.label
    first_tokens = 0
    all_started = asyncio.Event()

    async def stream() -> Sample:
        nonlocal first_tokens
        start = time.perf_counter()
        chunks = await client.chat.completions.create(model=agent_id, messages=loadgen.PROMPT, stream=True)
        parts: list[str] = []
        finished = False
        async for ch in chunks:
            for choice in ch.choices:
                if choice.delta and choice.delta.content:
                    if not parts:
                        first_tokens += 1
                        if first_tokens == n_streams:
                            all_started.set()
                    parts.append(choice.delta.content)
                finished = finished or bool(choice.finish_reason)
        return Sample(time.perf_counter() - start, ok=finished, label=loadgen.label_of("".join(parts)),
                      error=None if finished else "no finish_reason")  # fmt: skip

    tasks = [asyncio.create_task(loadgen.guarded(stream)) for _ in range(n_streams)]
    await asyncio.wait_for(all_started.wait(), 30)
    await asyncio.to_thread(new_mock.stats, True)
    view = await asyncio.to_thread(_agent, magec, agent_id)
    body = {**view, "llm": {**view["llm"], "backend": new_backend}}
    probe_call = loadgen.openai_call(client, agent_id, False)
    probe_hits: list[float] = []
    stop_probe = asyncio.Event()

    async def prober(t0: float) -> None:
        while not stop_probe.is_set():
            s = await loadgen.guarded(probe_call)
            if s.ok and s.label == new:
                probe_hits.append(time.monotonic() - t0)
                return

    t0 = time.monotonic()
    probe_task = asyncio.create_task(prober(t0))
    await asyncio.to_thread(magec.admin, "PUT", f"/agents/{agent_id}", body)
    put_ms = (time.monotonic() - t0) * 1000
    try:
        await asyncio.wait_for(asyncio.shield(probe_task), 10)
    except TimeoutError:
        stop_probe.set()
        await probe_task
    results = await asyncio.gather(*tasks)
    stats = await asyncio.to_thread(new_mock.stats)
    dropped = [s for s in results if not s.ok or s.label != old]
    visible = (stats["first_chat_at"] - t0) * 1000 if stats.get("first_chat_at") else None
    rnd: dict[str, Any] = {
        "from": old, "to": new, "put_ms": round(put_ms, 1),
        "visible_ms": round(visible, 1) if visible is not None else None,
        "probe_ms": round(probe_hits[0] * 1000, 1) if probe_hits else None,
        "streams": len(results), "dropped": len(dropped),
        "stream_p50_s": round(sorted(s.latency for s in results)[len(results) // 2], 3),
    }  # fmt: skip
    if dropped:
        rnd["dropped_reasons"] = sorted({s.error or f"served by {s.label}" for s in dropped})[:3]
    return rnd


def _agent(magec: Magec, agent_id: str) -> dict[str, Any]:
    return magec.admin("GET", f"/agents/{agent_id}")  # type: ignore[no-any-return]


# ---------------------------------------------------------------- set-up


def setup_magec(magec: Magec, mocks: dict[str, Mock]) -> tuple[str, str, dict[str, str], str]:
    """Backends A and B (one per mock); agents on A: bench (MODEL), switch (SWITCH_MODEL), paced (PACED_MODEL)."""
    backends = {}
    for label, mock in mocks.items():
        b = magec.admin(
            "POST",
            "/backends",
            {"name": f"mock-{label}", "type": "openai", "url": mock.url, "apiKey": "sk-mock"},
        )
        backends[label] = b["id"]
    first = next(iter(backends.values()))
    bench = magec.admin("POST", "/agents", {"name": "bench", "llm": {"backend": first, "model": MODEL}})
    switch = magec.admin(
        "POST", "/agents", {"name": "switch", "llm": {"backend": first, "model": SWITCH_MODEL}}
    )
    paced = magec.admin("POST", "/agents", {"name": "paced", "llm": {"backend": first, "model": PACED_MODEL}})
    want = {bench["id"], switch["id"], paced["id"]}
    # a write answers once the runtime serves it: the first listing has them all. A model's
    # ``id`` is its readable id (``bench-3ba775a8``); the agent's id is ``magec_id`` (compared
    # with ``id``, this waited out its whole 20 s on every run)
    r = httpx2.get(f"{magec.server.user_url}/v1/models", timeout=5).json()
    if missing := want - {m["magec_id"] for m in r["data"]}:
        raise RuntimeError(f"agents {sorted(missing)} are not served after their writes answered")
    return bench["id"], switch["id"], backends, paced["id"]
