"""Many slow streams against a real ``magec serve``: the clients and the paced provider shared by
``tests/runtime/test_slow_streams.py`` and ``bench/load_bench.py`` (issue "Scale", goal 6).

* :func:`paced_provider` runs the benchmarks' loopback mock (``bench/mock_provider.py``: uvloop,
  precomputed bytes, so a thousand streams cost it little) in its own process — it needs the
  source checkout (``bench/`` next to ``magec/``). An agent whose model is :func:`model`
  (``mock-t<tokens>-d<ms>``) gets ``tokens`` tokens paced ``ms`` apart; the whole text is
  :func:`full_text`.
* :func:`v1_stream` / :func:`run_sse` play one client of ``/v1/chat/completions`` (``stream:
  true``) / ``/api/v1/agent/run_sse`` (token partials) and return a :class:`Outcome`.
* :func:`client` is one asyncio httpx client without a connection limit worth the name;
  :func:`raise_fd_limit` lifts this process's open-file limit for that many sockets.
* :func:`tcp_counters` reads the kernel's TCP counters (Linux), so a broken connection in a load
  test can be told apart: a full listen queue, a reset, a socket closed with unread data.
"""

from __future__ import annotations

import contextlib
import json
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from magec.testing.services import free_port

ROOT = Path(__file__).resolve().parents[2]
_WORDS = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]
#: what a pool error would look like anywhere a client or the log could see it
POOL_ERROR = re.compile(r"QueuePool|pool limit|connection timed out|sqlalchemy", re.I)


def noted(log: str) -> list[str]:
    """The warnings and errors in a server's log (JSON lines, or the console format)."""
    found = []
    for line in log.splitlines():
        try:
            level = str(json.loads(line).get("level", ""))
        except (ValueError, AttributeError):
            level = "warning" if " WARNING " in line or " ERROR " in line or "Traceback" in line else ""
        if level.lower() in ("warning", "error", "critical"):
            found.append(line)
    return found


def model(tokens: int, pace_ms: int) -> str:
    return f"mock-t{tokens}-d{pace_ms}"


def full_text(tokens: int, label: str = "A") -> str:
    return f"[{label}]" + "".join(" " + _WORDS[i % len(_WORDS)] for i in range(tokens - 1))


@contextlib.contextmanager
def paced_provider(label: str = "A") -> Iterator[str]:
    """The mock provider in its own process; yields its URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.mock_provider", "--port", str(port), "--label", label],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=0.5) as probe:  # one TLS context, not one per probe (~17 ms each)
            for _ in range(600):
                if proc.poll() is not None:
                    raise RuntimeError("mock provider exited")
                try:
                    if probe.get(f"{url}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("mock provider did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def raise_fd_limit(want: int = 8192) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = want if hard == resource.RLIM_INFINITY else min(hard, want)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


#: the kernel counters that tell how a connection broke (/proc/net/netstat and /proc/net/snmp)
_TCP_COUNTERS = ("ListenOverflows", "ListenDrops", "EstabResets", "AttemptFails", "OutRsts", "TCPAbortOnData",
                 "TCPAbortOnClose", "TCPAbortOnMemory", "TCPAbortOnTimeout", "TCPSynRetrans", "TCPTimeouts")  # fmt: skip


def tcp_counters() -> dict[str, int]:
    """The machine's TCP counters named in ``_TCP_COUNTERS`` (empty where ``/proc`` has none)."""
    found: dict[str, int] = {}
    for path in ("/proc/net/netstat", "/proc/net/snmp"):
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        for names, values in zip(lines[::2], lines[1::2], strict=False):
            for name, value in zip(names.split()[1:], values.split()[1:], strict=False):
                if name in _TCP_COUNTERS and value.lstrip("-").isdigit():
                    found[name] = int(value)
    return found


def tcp_delta(before: dict[str, int]) -> dict[str, int]:
    """What changed in :func:`tcp_counters` since ``before`` (counters that moved only)."""
    now = tcp_counters()
    return {k: now[k] - before.get(k, 0) for k in now if now[k] != before.get(k, 0)}


def client(n: int, read_timeout: float = 300.0) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    return httpx.AsyncClient(timeout=httpx.Timeout(read_timeout, connect=60), limits=limits)


@dataclass
class Outcome:
    """One stream as its client saw it: HTTP status, the text, the failure (an error event or
    chunk, a broken stream; "" when none), seconds to the first text and to the end."""

    status: int
    text: str = ""
    failure: str = ""
    ttft: float | None = None
    total: float = 0.0
    retry_after: str | None = None
    #: the connection as the client saw it: "new :<local port>" or "reused", and when the request
    #: had gone out (seconds from the start) — a broken stream's line says which
    conn: str = ""

    def ok(self, expected: str) -> bool:
        return self.status == 200 and not self.failure and self.text == expected


class _Wire:
    """httpcore's ``trace`` extension for one request: was its connection opened for it (and from
    which local port), and when was the request written."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.port: int | None = None
        self.connected: float | None = None
        self.sent: float | None = None

    async def __call__(self, event: str, info: dict[str, object]) -> None:
        if event == "connection.connect_tcp.complete":
            self.connected = time.perf_counter() - self.t0
            stream = info.get("return_value")
            name = stream.get_extra_info("sockname") if stream is not None else None  # type: ignore[attr-defined]
            self.port = name[1] if isinstance(name, tuple) else -1
        elif event == "http11.send_request_body.complete":
            self.sent = time.perf_counter() - self.t0

    def __str__(self) -> str:
        sent = "not sent" if self.sent is None else f"sent at {self.sent:.2f} s"
        if self.port is None:
            return f"reused, {sent}"
        opened = "" if self.connected is None else f" opened at {self.connected:.2f} s"
        return f"new :{self.port}{opened}, {sent}"


async def v1_stream(c: httpx.AsyncClient, base: str, agent: str, text: str) -> Outcome:
    body = {"model": agent, "stream": True, "messages": [{"role": "user", "content": text}]}
    t0 = time.perf_counter()
    wire = _Wire()
    out: Outcome | None = None
    try:
        async with c.stream("POST", f"{base}/v1/chat/completions", json=body, extensions={"trace": wire}) as r:
            if r.status_code != 200:
                raw = (await r.aread()).decode(errors="replace")
                return Outcome(r.status_code, failure=raw, total=time.perf_counter() - t0,
                               retry_after=r.headers.get("retry-after"), conn=str(wire))  # fmt: skip
            out = Outcome(200)
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    out.failure = json.dumps(chunk)
                for choice in chunk.get("choices", []):
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if piece and out.ttft is None:
                        out.ttft = time.perf_counter() - t0
                    out.text += piece
    except httpx.HTTPError as e:
        return Outcome(0, failure=_broken(e, "/v1", out), total=time.perf_counter() - t0, conn=str(wire))
    out.total = time.perf_counter() - t0
    out.conn = str(wire)
    return out


async def run_sse(c: httpx.AsyncClient, base: str, agent: str, user: str, text: str) -> Outcome:
    """The final event must repeat the streamed partials whole."""
    body = {"appName": agent, "userId": user, "streaming": True, "newMessage": {"role": "user", "parts": [{"text": text}]}}
    t0 = time.perf_counter()
    partial = ""
    wire = _Wire()
    out: Outcome | None = None
    try:
        async with c.stream("POST", f"{base}/api/v1/agent/run_sse", json=body, extensions={"trace": wire}) as r:
            if r.status_code != 200:
                raw = (await r.aread()).decode(errors="replace")
                return Outcome(r.status_code, failure=raw, total=time.perf_counter() - t0,
                               retry_after=r.headers.get("retry-after"), conn=str(wire))  # fmt: skip
            out = Outcome(200)
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                if event.get("errorCode"):
                    out.failure = json.dumps(event)
                piece = "".join(p.get("text", "") for p in (event.get("content") or {}).get("parts", []))
                if event.get("partial"):
                    if piece and out.ttft is None:
                        out.ttft = time.perf_counter() - t0
                    partial += piece
                elif piece:
                    out.text = piece
    except httpx.HTTPError as e:
        return Outcome(0, failure=_broken(e, "/run_sse", out), total=time.perf_counter() - t0, conn=str(wire))
    if partial != out.text and not out.failure:
        out.failure = f"partials {partial!r} != final {out.text!r}"
    out.total = time.perf_counter() - t0
    out.conn = str(wire)
    return out


def _broken(e: Exception, route: str, out: Outcome | None) -> str:
    """A broken stream as its client saw it: the route, how far it got, the error and its cause."""
    causes: list[str] = []  # the whole chain: anyio's BrokenResourceError hides the OSError under it
    cause = e.__cause__ or e.__context__
    while cause is not None and len(causes) < 4:
        causes.append(repr(cause))
        cause = cause.__cause__ or cause.__context__
    if out is None:
        got = "before the response headers"
    elif out.ttft is None:
        got = "after the headers, before any text"
    else:
        got = f"after {len(out.text)} chars, first text at {out.ttft:.2f} s"
    return f"{route} {got}: {type(e).__name__}: {e} ({' <- '.join(causes)})"


async def in_flight(c: httpx.AsyncClient, base: str) -> float:
    """``magec_runs_in_flight`` from ``/metrics`` (admission's count of running turns; under
    ``--workers`` the sum of every worker's labelled sample)."""
    found = re.findall(r"^magec_runs_in_flight(?:\{[^}]*\})? (\S+)$", (await c.get(f"{base}/metrics")).text, re.M)
    if not found:
        raise AssertionError("magec_runs_in_flight is not on /metrics")
    return sum(float(v) for v in found)


def make_agent(admin_url: str, provider: str, model_name: str) -> str:
    """An ``openai`` backend on the mock and an agent on it; the agent id."""
    with httpx.Client(timeout=60) as c:
        b = c.post(f"{admin_url}/api/v1/admin/backends", json={"name": "paced", "type": "openai", "url": provider})
        b.raise_for_status()
        a = c.post(f"{admin_url}/api/v1/admin/agents",
                   json={"name": "Streamer", "llm": {"backend": b.json()["id"], "model": model_name}})  # fmt: skip
        a.raise_for_status()
        return str(a.json()["id"])


async def streams(base: str, agent: str, n: int, ramp_s: float, lag: list[float] | None = None) -> list[Outcome]:
    """``n`` streams, every other one ``/v1`` and ``/run_sse``, started evenly over ``ramp_s``
    seconds (clients do not all arrive in the same millisecond; with streams longer than the ramp
    every one of them still overlaps all the others). ``lag`` gets this process's longest event
    loop delay meanwhile (a busy machine makes the clients themselves late: a request written
    seconds after its connection opened)."""
    import asyncio

    async def one(c: httpx.AsyncClient, i: int) -> Outcome:
        await asyncio.sleep(ramp_s * i / n)
        if i % 2:
            return await v1_stream(c, base, agent, f"question {i}")
        return await run_sse(c, base, agent, f"user-{i}", f"question {i}")

    async def watch(seen: list[float]) -> None:
        seen.append(0.0)
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.05)
            seen[-1] = max(seen[-1], time.perf_counter() - t - 0.05)

    watcher = asyncio.ensure_future(watch(lag if lag is not None else []))
    try:
        async with client(n) as c:
            return await asyncio.gather(*(one(c, i) for i in range(n)))
    finally:
        watcher.cancel()


@dataclass
class Burst:
    admitted: list[Outcome]
    refused: list[Outcome]
    #: turns still running when the last refusal came back
    in_flight_after: float


async def burst(base: str, agent: str, admitted: int, extra: int) -> Burst:
    """``admitted`` streams (the process's ``limits.maxRuns``), then — once the server counts them
    all in flight — ``extra`` more at once, half ``/v1`` and half ``/run_sse``."""
    import asyncio

    async with client(admitted + extra) as c:
        held = [
            asyncio.create_task(v1_stream(c, base, agent, f"q{i}") if i % 2 else run_sse(c, base, agent, f"u{i}", f"q{i}"))
            for i in range(admitted)
        ]
        try:
            for _ in range(2400):  # a client watching the gauge: every admitted turn is running
                if await in_flight(c, base) >= admitted:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"never {admitted} turns in flight")
            refused = await asyncio.gather(*(
                v1_stream(c, base, agent, "one more") if i % 2 else run_sse(c, base, agent, "late", "one more")
                for i in range(extra)
            ))  # fmt: skip
            still = await in_flight(c, base)
            done = await asyncio.gather(*held)
        finally:
            for task in held:
                task.cancel()
    return Burst(list(done), list(refused), still)
