"""No collapse (issue "Scale", goal 6): one real ``magec serve`` on SQLite carries 1,000 concurrent
slow streams — ``/v1/chat/completions`` with ``stream: true`` and ``/run_sse`` with token
partials, mixed — and every one ends with the provider's full text, no error; with
``limits.maxRuns`` set low, a burst beyond it is refused at once (while every admitted stream is
still running) with 503 + ``Retry-After``, the admitted streams finish whole, and nothing anywhere
shows a pool error.

The provider is the benchmarks' loopback mock in its own process (:mod:`magec.testing.load`),
pacing 20 tokens; the test process only plays the clients (one asyncio httpx client). Behaviour
is asserted, never timing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from magec.testing import load
from magec.testing.server import ServerProcess

TOKENS = 20
FULL = load.full_text(TOKENS)

# run on their own, after the rest of the suite (scripts/test.sh): they load the whole machine
pytestmark = [pytest.mark.timeout(900), pytest.mark.alone]


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    load.raise_fd_limit()  # 1,000 sockets here, and in the server (it inherits the limit)
    with load.paced_provider() as url:
        yield url


def test_1000_concurrent_slow_streams_all_complete(tmp_path: Path, provider: str) -> None:
    with ServerProcess(tmp_path / "data").start(timeout=300) as server:
        # 20 tokens 500 ms apart: each stream lasts 10 s, longer than the 10 s the arrivals take
        aid = load.make_agent(server.admin_url, provider, load.model(TOKENS, 500))
        counters = load.tcp_counters()
        lag: list[float] = []
        results = asyncio.run(load.streams(server.user_url, aid, 1000, ramp_s=10.0, lag=lag))
        tcp = load.tcp_delta(counters)
        log = server.log_path.read_text() if server.log_path else ""
    bad = [r for r in results if not r.ok(FULL)]
    # what the server logged and the kernel counted, for a failure that reaches the client as a
    # broken connection
    reused = sum(r.conn.startswith("reused") for r in results)
    assert not bad, (f"{len(bad)} of 1000 streams failed, e.g. {bad[:3]}; {reused} of 1000 on a reused connection; "
                     f"this process's longest loop delay {max(lag, default=0):.2f} s; "
                     f"server log: {load.noted(log)[-20:]}; tcp: {tcp}")  # fmt: skip
    assert not load.POOL_ERROR.search(log), load.POOL_ERROR.search(log)


def test_a_burst_beyond_max_runs_is_refused_at_once_and_the_admitted_complete(tmp_path: Path, provider: str) -> None:
    with ServerProcess(tmp_path / "data", config={"limits": {"maxRuns": 50}}).start(timeout=300) as server:
        # 20 s streams: the refusals come back long before any admitted stream could end
        aid = load.make_agent(server.admin_url, provider, load.model(TOKENS, 1000))
        b = asyncio.run(load.burst(server.user_url, aid, 50, 150))
        log = server.log_path.read_text() if server.log_path else ""
    assert b.in_flight_after == 50  # every refusal came back while the admitted were all running
    assert [r.status for r in b.refused] == [503] * 150
    assert all(r.retry_after == "1" and '"overloaded"' in r.failure for r in b.refused)
    assert not any(load.POOL_ERROR.search(r.failure) for r in b.refused)
    bad = [r for r in b.admitted if not r.ok(FULL)]
    assert not bad, f"{len(bad)} of 50 admitted streams failed, e.g. {bad[:3]}"
    assert not load.POOL_ERROR.search(log), load.POOL_ERROR.search(log)
