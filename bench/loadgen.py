"""Closed-loop load generator: ``concurrency`` workers issue ``requests`` calls back to back.

Every call returns a :class:`Sample` (latency, time to first token for streams, success, which mock
answered). A warm-up phase at the same concurrency runs first and is discarded. Clients:

* :func:`openai_call` — the official ``openai`` SDK (``AsyncOpenAI``), streaming or not;
* :func:`raw_chat_call` — one httpx2 POST of an OpenAI body (the baseline for the run API, whose
  clients are plain HTTP too);
* :func:`run_call` / :func:`run_sse_call` — magec's ADK-shaped ``/api/v1/agent/run`` and ``/run_sse``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

PROMPT = [{"role": "user", "content": "Say something short."}]


@dataclass
class Sample:
    latency: float
    ttft: float | None = None
    ok: bool = True
    label: str | None = None
    error: str | None = None


@dataclass
class LoadResult:
    concurrency: int
    requests: int
    wall_s: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if not s.ok)

    @property
    def rps(self) -> float:
        return len(self.samples) / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        ok = [s for s in self.samples if s.ok]
        lat = [s.latency * 1000 for s in ok]
        ttft = [s.ttft * 1000 for s in ok if s.ttft is not None]
        out: dict[str, Any] = {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "rps": round(self.rps, 1),
            **{f"{k}_ms": v for k, v in percentiles(lat).items()},
        }
        if ttft:
            out.update({f"ttft_{k}_ms": v for k, v in percentiles(ttft).items()})
        first_error = next((s.error for s in self.samples if not s.ok), None)
        if first_error:
            out["first_error"] = first_error[:300]
        return out


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "mean": float("nan")}
    s = sorted(values)

    def pct(q: float) -> float:
        return round(s[min(len(s) - 1, int(round(q * (len(s) - 1))))], 3)

    return {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "mean": round(statistics.fmean(s), 3)}


Call = Callable[[], Awaitable[Sample]]


async def guarded(call: Call) -> Sample:
    start = time.perf_counter()
    try:
        return await call()
    except Exception as e:  # noqa: BLE001 - a failed call is a sample, not a crash
        return Sample(time.perf_counter() - start, ok=False, error=f"{type(e).__name__}: {e}")


async def run_load(call: Call, concurrency: int, requests: int, warmup: int = 0) -> LoadResult:
    """Closed loop: ``concurrency`` workers share a budget of ``requests`` calls."""

    async def phase(n: int) -> tuple[float, list[Sample]]:
        remaining = n
        samples: list[Sample] = []

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                samples.append(await guarded(call))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(n, 1)))))
        return time.perf_counter() - t0, samples

    if warmup:
        await phase(warmup)
    wall, samples = await phase(requests)
    return LoadResult(concurrency, requests, wall, samples)


def label_of(text: str) -> str | None:
    if text.startswith("[") and "]" in text:
        return text[1 : text.index("]")]
    return None


def openai_client(base_url: str, api_key: str = "sk-bench", **headers: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=0,
        timeout=60,
        default_headers=headers or None,
        http_client=httpx2.AsyncClient(
            limits=httpx2.Limits(max_connections=256, max_keepalive_connections=256)
        ),
    )


def openai_call(client: openai.AsyncOpenAI, model: str, stream: bool) -> Call:
    async def call() -> Sample:
        start = time.perf_counter()
        if not stream:
            r = await client.chat.completions.create(model=model, messages=PROMPT)  # type: ignore[arg-type]
            text = r.choices[0].message.content or ""
            return Sample(time.perf_counter() - start, ok=bool(text), label=label_of(text))
        chunks = await client.chat.completions.create(model=model, messages=PROMPT, stream=True)  # type: ignore[arg-type]
        ttft: float | None = None
        parts: list[str] = []
        finished = False
        async for chunk in chunks:
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    if ttft is None:
                        ttft = time.perf_counter() - start
                    parts.append(choice.delta.content)
                if choice.finish_reason:
                    finished = True
        text = "".join(parts)
        return Sample(time.perf_counter() - start, ttft, ok=bool(text) and finished, label=label_of(text),
                      error=None if finished else f"stream ended without finish_reason after {len(parts)} deltas")  # fmt: skip

    return call


def raw_chat_call(client: httpx2.AsyncClient, url: str, model: str) -> Call:
    body = json.dumps({"model": model, "messages": PROMPT}).encode()
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}

    async def call() -> Sample:
        start = time.perf_counter()
        r = await client.post(url, content=body, headers=headers)
        text = r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else ""
        return Sample(time.perf_counter() - start, ok=bool(text), label=label_of(text),
                      error=None if text else f"HTTP {r.status_code}: {r.text[:200]}")  # fmt: skip

    return call


def _run_body(app_id: str, streaming: bool) -> bytes:
    # No sessionId: every call opens a new session (like an OpenAI client without X-Session-Id).
    return json.dumps(
        {
            "appName": app_id,
            "userId": "bench",
            "streaming": streaming,
            "newMessage": {"role": "user", "parts": [{"text": "Say something short."}]},
        }  # fmt: skip
    ).encode()


def _final_text(events: list[dict[str, Any]]) -> str:
    return "".join(
        p.get("text", "")
        for e in events
        if not e.get("partial") and not e.get("errorCode")
        for p in (e.get("content") or {}).get("parts", [])
    )


def run_call(client: httpx2.AsyncClient, url: str, app_id: str) -> Call:
    body = _run_body(app_id, False)
    headers = {"content-type": "application/json"}

    async def call() -> Sample:
        start = time.perf_counter()
        r = await client.post(url, content=body, headers=headers)
        events = r.json() if r.status_code == 200 else []
        text = _final_text(events)
        err = next((e["errorMessage"] for e in events if e.get("errorCode")), None)
        return Sample(time.perf_counter() - start, ok=bool(text) and not err, label=label_of(text),
                      error=err or (None if text else f"HTTP {r.status_code}: {r.text[:200]}"))  # fmt: skip

    return call


def run_sse_call(client: httpx2.AsyncClient, url: str, app_id: str) -> Call:
    body = _run_body(app_id, True)
    headers = {"content-type": "application/json"}

    async def call() -> Sample:
        start = time.perf_counter()
        ttft: float | None = None
        events: list[dict[str, Any]] = []
        async with client.stream("POST", url, content=body, headers=headers) as r:
            if r.status_code != 200:
                return Sample(time.perf_counter() - start, ok=False, error=f"HTTP {r.status_code}")
            async for line in r.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if ttft is None and event.get("partial"):
                    ttft = time.perf_counter() - start
                events.append(event)
        text = _final_text(events)
        err = next((e["errorMessage"] for e in events if e.get("errorCode")), None)
        return Sample(time.perf_counter() - start, ttft, ok=bool(text) and not err, label=label_of(text),
                      error=err or (None if text else "no final text"))  # fmt: skip

    return call


def http_client() -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        timeout=60, limits=httpx2.Limits(max_connections=256, max_keepalive_connections=256)
    )


async def raw_capacity(
    host: str, port: int, path: str, body: bytes, connections: int, seconds: float
) -> dict[str, Any]:
    """Hammer the mock with precomputed keep-alive requests on raw sockets (no client library): the
    mock's own ceiling. Each connection sends one request, reads the full response, repeats."""
    req = (
        f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
    done = 0
    deadline = time.perf_counter() + seconds

    async def conn() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
                done += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(connections)))
    wall = time.perf_counter() - t0
    return {"connections": connections, "requests": done, "rps": round(done / wall, 1)}
