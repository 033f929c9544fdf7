"""Session-service benchmark: our ``SqlSessionService`` next to ADK's stock services.

A *turn* is what ADK's ``Runner`` does to the session store per user message: ``get_session``,
append the user event, append a tool-call event, a tool-result event with a state delta, and the
final model event with an ``output_key``-style delta (4 appends). ``concurrency`` sessions each run
``turns`` turns at once, on their own session (as 50 users chatting).

``run()`` returns per-service ``ms_per_turn`` (wall time / turns: the throughput cost) and
``p50_ms``/``p99_ms`` (latency of one turn under that load), plus ratios against ADK's
``DatabaseSessionService`` on the same SQLite file settings (WAL) and ADK's in-memory service.
Redis is measured too when ``redis-server`` is installed. Run: ``python bench/session_bench.py``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions import DatabaseSessionService, InMemorySessionService
from google.adk.sessions.base_session_service import BaseSessionService
from google.genai import types

from magec.memory import RedisSessionService, SqlSessionService, create_memory_tables
from magec.store.store import make_engine


def _event(
    author: str, text: str | None = None, delta: dict[str, Any] | None = None, call: bool = False
) -> Event:
    part = (
        types.Part(function_call=types.FunctionCall(id="c1", name="search_memory", args={"query": "coffee"}))
        if call
        else types.Part(text=text or "")
    )
    return Event(
        author=author,
        invocation_id="inv",
        content=types.Content(role="user" if author == "user" else "model", parts=[part]),
        actions=EventActions(state_delta=delta or {}),
    )


async def _turn(svc: BaseSessionService, user: str, sid: str, i: int) -> float:
    start = time.perf_counter()
    session = await svc.get_session(app_name="bench", user_id=user, session_id=sid)
    assert session is not None
    await svc.append_event(session, _event("user", f"message {i} " + "lorem ipsum " * 20))
    await svc.append_event(session, _event("agent", call=True))
    await svc.append_event(
        session, _event("agent", "tool result", {"temp:x": 1, "user:last_tool": "search_memory"})
    )
    await svc.append_event(session, _event("agent", "the answer " * 30, {"last_reply": f"answer {i}"}))
    return time.perf_counter() - start


async def _measure(svc: BaseSessionService, concurrency: int, turns: int) -> dict[str, float]:
    sids = []
    for c in range(concurrency):
        s = await svc.create_session(app_name="bench", user_id=f"user{c}")
        sids.append((s.user_id, s.id))
    await asyncio.gather(*(_turn(svc, u, s, -1) for u, s in sids))  # warm-up (pools, caches, tables)

    async def worker(user: str, sid: str) -> list[float]:
        return [await _turn(svc, user, sid, i) for i in range(turns)]

    start = time.perf_counter()
    results = await asyncio.gather(*(worker(u, s) for u, s in sids))
    wall = time.perf_counter() - start
    lat = sorted(x for r in results for x in r)
    return {
        "ms_per_turn": round(wall / len(lat) * 1000, 3),
        "p50_ms": round(statistics.median(lat) * 1000, 2),
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2),
    }


async def _run(concurrency: int, turns: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="magec-session-bench-"))
    out: dict[str, Any] = {"concurrency": concurrency, "turns_per_session": turns, "services": {}}
    try:
        ours_engine = make_engine(f"sqlite+aiosqlite:///{tmp / 'ours.db'}")
        await create_memory_tables(ours_engine)
        ours = SqlSessionService(ours_engine)
        out["services"]["magec_sql_sqlite"] = await _measure(ours, concurrency, turns)
        await ours.close()
        await ours_engine.dispose()

        adk_engine = make_engine(f"sqlite+aiosqlite:///{tmp / 'adk.db'}")  # same WAL pragmas: a fair fight
        adk = DatabaseSessionService(db_engine=adk_engine)
        out["services"]["adk_database_sqlite"] = await _measure(adk, concurrency, turns)
        await adk_engine.dispose()

        out["services"]["adk_in_memory"] = await _measure(InMemorySessionService(), concurrency, turns)

        if shutil.which("redis-server"):
            from magec.testing.services import start_redis

            server = start_redis()
            try:
                svc = RedisSessionService(server.url)
                out["services"]["magec_redis"] = await _measure(svc, concurrency, turns)
                await svc.close()
            finally:
                server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    s = out["services"]
    ours = s["magec_sql_sqlite"]["ms_per_turn"]
    out["ratios"] = {
        "adk_database_over_ours": round(s["adk_database_sqlite"]["ms_per_turn"] / ours, 2),
        "ours_over_adk_in_memory": round(ours / s["adk_in_memory"]["ms_per_turn"], 2),
    }
    if "magec_redis" in s:
        out["ratios"]["redis_over_ours_sqlite"] = round(s["magec_redis"]["ms_per_turn"] / ours, 2)
    return out


def run(concurrency: int = 50, turns: int = 10) -> dict[str, Any]:
    """Benchmark the session services; see the module docstring for the figures returned."""
    return asyncio.run(_run(concurrency, turns))


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
