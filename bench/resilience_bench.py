"""Resilience benchmark: time to answer from a fallback, and what the resilience layer costs.

Two measurements, each side by side with its reference in the same run:

* ``fallback``: an agent whose primary backend cannot answer and whose fallback can, called on
  ``/api/v1/agent/run`` like a client. Cases: the primary *refuses* connections (nothing listens),
  the primary's connection *hangs* (a listener whose accept queue is full: the SYN is dropped, so
  only the connect deadline ends it), and the primary's circuit breaker is *open* (the health check
  or earlier calls found it down). Reference: the same agent configured directly on the fallback.
  Target: no case takes longer than the connect deadline plus one fallback call, i.e.
  ``extra_ms <= connect_timeout_ms`` (the open-breaker case: about 0).
* ``overhead``: one chat model call against a loopback provider, (a) through everything magec puts
  around a vendor call — fallback chain, circuit breaker, deadlines and retry policy — and (b) the
  bare vendor attempt (the SDK call and response mapping only). Interleaved rounds; reported: the
  difference per call and the round-to-round noise of (b). Target: difference within the noise.

``run()`` returns a dict (the report's "Resilience" section). Run:
``python -m bench --only resilience`` or ``python bench/resilience_bench.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

A = "/api/v1/admin"
U = "/api/v1/agent"
CONNECT_TIMEOUT = 0.5


@contextlib.contextmanager
def _refusing() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"


@contextlib.contextmanager
def _hanging() -> Iterator[str]:
    """A listener that never accepts, its backlog filled: new connections hang in SYN-SENT."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        with contextlib.suppress(BlockingIOError, OSError):
            c.connect(("127.0.0.1", port))
        fillers.append(c)
    try:
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", port))
            hangs = False
        except (TimeoutError, OSError):
            hangs = True
        finally:
            probe.close()
        if not hangs:
            raise RuntimeError("could not make a hanging listener (the accept queue did not fill)")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        for c in fillers:
            c.close()
        srv.close()


async def _turn_ms(apps: Any, agent: str, i: int) -> float:
    body = {"appName": agent, "userId": "bench", "newMessage": {"parts": [{"text": f"q{i}"}]}}
    start = time.perf_counter()
    r = await apps.user.post(f"{U}/run", json=body)
    elapsed = (time.perf_counter() - start) * 1000
    events = r.json()
    if r.status_code != 200 or any(e.get("errorCode") for e in events):
        raise RuntimeError(f"turn failed: {r.status_code} {str(events)[:300]}")
    return elapsed


async def _cases(tmp: Path, fb_url: str, turns: int, config: dict[str, Any],
                 primaries: dict[str, str | None], open_first: bool = False) -> dict[str, list[float]]:
    """Per case name: turn latencies of an agent on ``primaries[name]`` with the fallback (``None``:
    the agent is on the fallback itself, the reference), interleaved turn by turn."""
    from magec.testing.apps import running_apps

    async with running_apps(tmp, config=config) as apps:

        async def backend(name: str, url: str) -> str:
            r = await apps.admin.post(f"{A}/backends", json={
                "name": name, "type": "openai", "url": url, "connectTimeout": CONNECT_TIMEOUT, "timeout": 10})
            return str(r.json()["id"])

        good = await backend("fallback", fb_url)
        agents: dict[str, str] = {}
        for i, (name, url) in enumerate(primaries.items()):
            llm: dict[str, Any] = {"backend": good, "model": "m"}
            if url is not None:
                llm = {"backend": await backend(f"primary-{i}", url), "model": "m",
                       "fallbacks": [{"backend": good, "model": "m"}]}
            r = await apps.admin.post(f"{A}/agents", json={"name": f"agent-{i}", "llm": llm})
            agents[name] = str(r.json()["id"])
        for agent_id in agents.values():  # warm-up (and, with breakerFailures=1, opens the breakers)
            await _turn_ms(apps, agent_id, -1)
        samples: dict[str, list[float]] = {name: [] for name in agents}
        for i in range(turns):  # interleaved, so drift hits every case alike
            for name, agent_id in agents.items():
                samples[name].append(await _turn_ms(apps, agent_id, i))
        return samples


def _rows(samples: dict[str, list[float]], ref_name: str, target_ms: float) -> dict[str, Any]:
    ref = statistics.median(samples[ref_name])
    out = {}
    for name, xs in samples.items():
        med = statistics.median(xs)
        out[name] = {"p50_ms": round(med, 1), "max_ms": round(max(xs), 1), "extra_ms": round(med - ref, 1),
                     "target_extra_ms": 0.0 if name == ref_name else target_ms,
                     "within_target": med - ref <= target_ms + max(5.0, 0.25 * ref)}
    return out


async def _fallback(turns: int, tmp: Path, mock_url: str) -> dict[str, Any]:
    ref = "reference: agent on the fallback"
    with _refusing() as refused, _hanging() as hanging:
        # breakers that never open: every turn pays the primary's failure
        closed = await _cases(tmp / "closed", mock_url, turns,
                              {"breaker_failures": 100_000, "health_interval": 3600},
                              {ref: None, "primary refuses connections": refused, "primary connection hangs": hanging})
        # breakerFailures=1: the warm-up's failure opens it; then the primary is skipped without a call
        opened = await _cases(tmp / "open", mock_url, turns,
                              {"breaker_failures": 1, "breaker_cooldown": 3600, "health_interval": 3600},
                              {ref: None, "primary's circuit breaker open (connection hangs)": hanging})
    rows = _rows(closed, ref, CONNECT_TIMEOUT * 1000)
    for name, row in _rows(opened, ref, 0.0).items():
        rows[name if name != ref else ref + " (breaker run)"] = row
    return {"connect_timeout_ms": CONNECT_TIMEOUT * 1000, "turns": turns, "cases": rows}


async def _overhead(calls: int, rounds: int, mock_url: str) -> dict[str, Any]:
    from google.adk.models import LlmRequest
    from google.genai import types

    from magec.backends.base import BackendSpec
    from magec.backends.breaker import Breakers
    from magec.backends.fallback import FallbackLlm, Link
    from magec.backends.openai.chat import OpenAIChat
    from magec.backends.registry import get
    spec = BackendSpec(id="b1", name="b1", type="openai", url=mock_url, api_key="k")
    spec2 = BackendSpec(id="b2", name="b2", type="openai", url=mock_url, api_key="k")
    raw = get("openai").chat(spec, "m")
    assert isinstance(raw, OpenAIChat)
    breakers = Breakers()
    full = FallbackLlm([breakers.guard(raw, "b1"), breakers.guard(get("openai").chat(spec2, "m"), "b2")],
                       [Link("b1", "b1", "m"), Link("b2", "b2", "m")])

    def request() -> LlmRequest:
        return LlmRequest(model="m", contents=[types.Content(role="user", parts=[types.Part(text="hi")])])

    async def layered() -> None:
        async for _ in full.generate_content_async(request()):
            pass

    async def bare() -> None:
        async for _ in raw._attempt(request(), False):
            pass

    async def timed(fn: Any) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            await fn()
        return (time.perf_counter() - start) / calls * 1e6

    for fn in (bare, layered):  # warm-up
        await timed(fn)
    per: dict[str, list[float]] = {"bare": [], "layered": []}
    for _ in range(rounds):
        per["bare"].append(await timed(bare))
        per["layered"].append(await timed(layered))
    bare_med, layered_med = statistics.median(per["bare"]), statistics.median(per["layered"])
    noise = statistics.pstdev(per["bare"])
    return {
        "calls_per_round": calls,
        "rounds": rounds,
        "bare_us": round(bare_med, 1),
        "layered_us": round(layered_med, 1),
        "overhead_us": round(layered_med - bare_med, 1),
        "noise_us": round(noise, 1),
        "ratio": round(layered_med / bare_med, 3),
        "within_noise": abs(layered_med - bare_med) <= max(noise, 0.02 * bare_med),
    }


def run(turns: int = 20, calls: int = 300, rounds: int = 9) -> dict[str, Any]:
    """Both measurements (see the module docstring), against ``bench.mock_provider`` in its own process."""
    from bench.procs import Cores, start_mock

    cores = Cores.detect()
    with tempfile.TemporaryDirectory(prefix="magec-resilience-bench-") as tmp:
        mock = start_mock("R", cores.load, Path(tmp))
        try:
            fallback = asyncio.run(_fallback(turns, Path(tmp), mock.url + "/v1"))
            overhead = asyncio.run(_overhead(calls, rounds, mock.url + "/v1"))
        finally:
            mock.stop()
    return {"fallback": fallback, "overhead": overhead}


if __name__ == "__main__":
    print(json.dumps(run(turns=5, calls=50, rounds=3), indent=2))
