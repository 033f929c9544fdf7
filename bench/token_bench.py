"""Token path bench (issue "Scale", goals 3 and 4): what a relayed token and a request cost a real
``magec serve``, against the bench's mock provider, side by side with direct calls in one run.

* **Server CPU per relayed token** (goal 3): the server process's CPU (``psutil``) per streamed
  ``/v1/chat/completions`` request of 200 tokens minus the same for 1 token, divided by 199. Two
  shapes: *burst* (the mock sends every token at once, as a fast provider or a network batch does)
  and *paced* (2 ms between tokens, so each token is its own network read: nothing to batch), one
  stream at a time; and *paced* again with :data:`STREAMS` streams at once (a gateway's working
  load: between two tokens of one stream the server relays the others', instead of idling).
  Target ≤ 0.05 ms per token.
* **First token added** (goal 3): time to the first content delta through magec minus direct to
  the mock, p50 over alternating requests, on a paced stream (20 ms per token). Target ≤ 2 ms.
* **Plain added latency at c=1** (goal 4): p50 of a non-streamed request through magec minus
  direct, alternating. Target ≤ 2 ms. The LiteLLM ratios (goal 4's ≥ 3× at c=64) are the
  proxy section's rows at the top of the page.

Loads run from this process (the official ``openai`` SDK, one connection at a time); the server
and the mock are pinned as the rest of the bench pins them. Run alone: ``python -m bench.token_bench``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from openai import AsyncOpenAI

from bench.procs import Cores, pin, start_magec, start_mock

TARGETS = {"us_per_token": 50.0, "ttft_added_ms": 2.0, "plain_added_ms": 2.0}
#: paced streams at once in the concurrent row (rounds of this many, ``ROUNDS`` times)
STREAMS = 64
ROUNDS = 3
MODELS = {"t1": "mock-t1", "t200": "mock-t200", "t1p": "mock-t1-d2", "t200p": "mock-t200-d2", "ttft": "mock-t16-d20"}


def _cpu(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        t = p.cpu_times()
        total += t.user + t.system
    return total


async def _measure(requests: int, ttft_requests: int) -> dict[str, Any]:
    cores = Cores.detect()
    pin(os.getpid(), cores.load)
    work = Path(tempfile.mkdtemp(prefix="magec-token-bench-"))
    mock = start_mock("T", cores.load, work)
    magec = start_magec(work / "magec", cores.server)
    try:
        b = magec.admin("POST", "/backends", {"name": "mock", "type": "openai", "url": mock.url, "apiKey": "sk-mock"})
        ids = {k: magec.admin("POST", "/agents", {"name": k, "llm": {"backend": b["id"], "model": m}})["id"]
               for k, m in MODELS.items()}  # fmt: skip
        via = AsyncOpenAI(base_url=magec.server.user_url + "/v1", api_key="none", max_retries=0)
        direct = AsyncOpenAI(base_url=mock.url, api_key="none", max_retries=0)
        assert magec.server.proc is not None
        server = psutil.Process(magec.server.proc.pid)
        msgs: Any = [{"role": "user", "content": "hello"}]

        async def streamed(client: AsyncOpenAI, model: str) -> tuple[float, int]:
            t0 = time.perf_counter()
            first, n = 0.0, 0
            stream = await client.chat.completions.create(model=model, messages=msgs, stream=True)
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    first = first or time.perf_counter() - t0
                    n += len(chunk.choices[0].delta.content.split())
            return first, n

        async def plain(client: AsyncOpenAI, model: str) -> float:
            t0 = time.perf_counter()
            await client.chat.completions.create(model=model, messages=msgs)
            return time.perf_counter() - t0

        for k in ids:  # warm every agent and the connections
            for _ in range(5):
                await streamed(via, ids[k])
        out: dict[str, Any] = {"requests": requests, "targets": TARGETS}

        async def cpu_per_request(key: str) -> tuple[float, int]:
            c0, tokens = _cpu(server), 0
            for _ in range(requests):
                tokens += (await streamed(via, ids[key]))[1]
            return (_cpu(server) - c0) / requests * 1000, tokens // requests

        for shape, one, many in (("burst", "t1", "t200"), ("paced", "t1p", "t200p")):
            base, _ = await cpu_per_request(one)
            cost, tokens = await cpu_per_request(many)
            out[shape] = {"cpu_ms_1": round(base, 3), "cpu_ms_200": round(cost, 3), "tokens": tokens,
                          "us_per_token": round((cost - base) / max(1, tokens - 1) * 1000, 1)}  # fmt: skip

        async def cpu_at_once(key: str) -> tuple[float, int, int]:
            await asyncio.gather(*[streamed(via, ids[key]) for _ in range(STREAMS)])  # warm
            c0, tokens, n = _cpu(server), 0, 0
            for _ in range(ROUNDS):
                got = await asyncio.gather(*[streamed(via, ids[key]) for _ in range(STREAMS)])
                tokens, n = tokens + sum(t for _, t in got), n + len(got)
            return _cpu(server) - c0, tokens, n

        short_cpu, _, short_n = await cpu_at_once("t1p")
        long_cpu, tokens, n = await cpu_at_once("t200p")
        per_request = short_cpu / short_n  # CPU of a 1-token stream: the request's own cost
        out["paced_concurrent"] = {"streams": STREAMS, "cpu_ms_1": round(per_request * 1000, 3),
                                   "cpu_ms_200": round(long_cpu / n * 1000, 3), "tokens": tokens // n,
                                   "us_per_token": round((long_cpu - per_request * n) / max(1, tokens - n) * 1e6, 1)}  # fmt: skip

        d_ttft, m_ttft = [], []
        for _ in range(ttft_requests):
            d_ttft.append((await streamed(direct, MODELS["ttft"]))[0])
            m_ttft.append((await streamed(via, ids["ttft"]))[0])
        out["ttft"] = {"direct_p50_ms": round(statistics.median(d_ttft) * 1000, 2),
                       "magec_p50_ms": round(statistics.median(m_ttft) * 1000, 2)}  # fmt: skip
        out["ttft"]["added_ms"] = round(out["ttft"]["magec_p50_ms"] - out["ttft"]["direct_p50_ms"], 2)

        d_plain, m_plain = [], []
        for _ in range(requests):
            d_plain.append(await plain(direct, MODELS["t1"]))  # the same answer as through magec
            m_plain.append(await plain(via, ids["t1"]))
        c0 = _cpu(server)
        for _ in range(requests):
            await plain(via, ids["t1"])
        out["plain"] = {"direct_p50_ms": round(statistics.median(d_plain) * 1000, 2),
                        "magec_p50_ms": round(statistics.median(m_plain) * 1000, 2),
                        "server_cpu_ms": round((_cpu(server) - c0) / requests * 1000, 3)}  # fmt: skip
        out["plain"]["added_ms"] = round(out["plain"]["magec_p50_ms"] - out["plain"]["direct_p50_ms"], 2)
        return out
    finally:
        magec.server.stop()
        mock.stop()


def run(requests: int = 100, ttft_requests: int = 60) -> dict[str, Any]:
    return asyncio.run(_measure(requests, ttft_requests))


def met(value: float | None, limit: float) -> str:
    return "n/a" if value is None else ("met" if value <= limit else "missed")


def report_lines(r: dict[str, Any]) -> list[str]:
    t = r["targets"]
    out = ["Server CPU per relayed token (`/v1/chat/completions` stream through a real `magec serve`, "
           "200-token minus 1-token requests):", "",
           "| shape | CPU ms / request (1 token) | CPU ms / request (200 tokens) | µs / token | target | |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    for shape in ("burst", "paced", "paced_concurrent"):
        row = r.get(shape)
        if row is None:  # results saved before the row existed
            continue
        label = f"paced, {row['streams']} streams at once" if shape == "paced_concurrent" else shape
        out.append(f"| {label} | {row['cpu_ms_1']} | {row['cpu_ms_200']} | {row['us_per_token']} | "
                   f"≤ {t['us_per_token']} | {met(row['us_per_token'], t['us_per_token'])} |")
    out += ["", "| c=1, p50 | direct ms | through magec ms | added ms | target | |", "|---|---|---|---|---|---|"]
    tt, pl = r["ttft"], r["plain"]
    out.append(f"| first token, paced stream | {tt['direct_p50_ms']} | {tt['magec_p50_ms']} | {tt['added_ms']} | "
               f"≤ {t['ttft_added_ms']} | {met(tt['added_ms'], t['ttft_added_ms'])} |")
    out.append(f"| whole answer, not streamed | {pl['direct_p50_ms']} | {pl['magec_p50_ms']} | {pl['added_ms']} | "
               f"≤ {t['plain_added_ms']} | {met(pl['added_ms'], t['plain_added_ms'])} |")
    out += ["", f"Server CPU per non-streamed request: {pl['server_cpu_ms']} ms."]
    return out


if __name__ == "__main__":
    print(json.dumps(run(requests=40, ttft_requests=30), indent=2))
