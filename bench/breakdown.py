"""Where a magec turn's time goes: in-process ablation, one layer added at a time (c=1).

Each step runs ``turns`` sequential turns after a warm-up and reports wall ms and process CPU ms
per turn (CPU includes aiosqlite's and the SQLite writer's threads):

* ``sdk_call`` — the openai SDK call to the mock alone (what a turn must do anyway);
* ``adk_inmemory_instant`` — ADK ``Runner`` + ``InMemorySessionService`` + an LLM that answers
  instantly (ADK's own cost), then the same with ADK's failing optional import short-circuited
  (see ``a2a_import_fix``), then again without (to show the difference is not drift);
* ``adk_sql_instant`` — magec's ``SqlSessionService`` (SQLite) instead of the in-memory one;
* ``adk_sql_openai`` — plus magec's ``OpenAIChat`` to the mock: a magec turn minus HTTP/FastAPI;
* ``*_stream`` — the same with 16 streamed partials (SSE mode).

``python -m bench.breakdown --mock-url http://127.0.0.1:PORT`` (a running ``bench.mock_provider``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

A2A_MODULE = "google.adk.agents.remote_a2a_agent"
_MISSING: Any = object()


@contextlib.contextmanager
def a2a_import_fix(enabled: bool) -> Iterator[None]:
    """``sys.modules[name] = None`` makes ``import name`` raise ImportError at once (no file search,
    no re-execution of the module) — what ADK's ``build_node`` falls back on when a2a is absent.
    ``enabled=False`` restores ADK's stock behaviour even when ``magec.runtime.build`` set it."""
    saved = sys.modules.get(A2A_MODULE, _MISSING)
    if saved is not _MISSING and saved is not None:
        yield  # a2a is really installed: the import succeeds and is cached anyway
        return
    if enabled:
        sys.modules[A2A_MODULE] = None  # type: ignore[assignment]
    else:
        sys.modules.pop(A2A_MODULE, None)
    try:
        yield
    finally:
        if saved is _MISSING:
            sys.modules.pop(A2A_MODULE, None)
        else:
            sys.modules[A2A_MODULE] = saved  # type: ignore[assignment]


def failing_import_ms(n: int = 200) -> float | None:
    """Cost of one ``from google.adk.agents.remote_a2a_agent import RemoteA2aAgent`` when it fails."""
    import importlib.util

    if importlib.util.find_spec("a2a") is not None:
        return None  # a2a installed: the import succeeds once and is cached
    with a2a_import_fix(False):
        t = time.perf_counter()
        for _ in range(n):
            try:
                from google.adk.agents.remote_a2a_agent import RemoteA2aAgent  # noqa: F401
            except ImportError:
                pass
        return round((time.perf_counter() - t) / n * 1000, 3)


async def _measure(turn: Callable[[], Awaitable[None]], turns: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        await turn()
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(turns):
        await turn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_ms": round(wall / turns * 1000, 3), "cpu_ms": round(cpu / turns * 1000, 3)}


def _instant_llm(stream_tokens: int) -> Any:
    from google.adk.models import BaseLlm, LlmRequest, LlmResponse
    from google.genai import types

    words = ["[I]"] + [" lorem"] * (stream_tokens - 1)

    class InstantLlm(BaseLlm):
        async def generate_content_async(
            self, llm_request: LlmRequest, stream: bool = False
        ) -> AsyncGenerator[LlmResponse, None]:
            if stream:
                for w in words:
                    yield LlmResponse(
                        content=types.Content(role="model", parts=[types.Part(text=w)]), partial=True
                    )
            yield LlmResponse(
                content=types.Content(role="model", parts=[types.Part(text="".join(words))]),
                usage_metadata=types.GenerateContentResponseUsageMetadata(
                    prompt_token_count=10, candidates_token_count=16
                ),
            )

    return InstantLlm(model="instant")


async def _run(mock_url: str, turns: int, warmup: int) -> dict[str, Any]:
    import openai
    from google.adk.agents import LlmAgent
    from google.adk.agents.run_config import RunConfig, StreamingMode
    from google.adk.runners import Runner
    from google.adk.sessions import InMemorySessionService
    from google.genai import types

    from magec.backends.base import BackendSpec
    from magec.backends.openai.chat import OpenAIChat
    from magec.backends.openai.connection import OpenAIConnection
    from magec.memory import SqlSessionService, create_memory_tables
    from magec.store.store import make_engine

    out: dict[str, Any] = {"turns": turns, "failing_import_ms": failing_import_ms()}
    tmp = Path(tempfile.mkdtemp(prefix="magec-breakdown-"))
    engine = make_engine(f"sqlite+aiosqlite:///{tmp / 'sessions.db'}")
    await create_memory_tables(engine)
    sql = SqlSessionService(engine)
    inmem = InMemorySessionService()
    msg = types.Content(role="user", parts=[types.Part(text="Say something short.")])
    sdk = openai.AsyncOpenAI(base_url=f"{mock_url}/v1", api_key="sk-mock", max_retries=0)
    spec = BackendSpec(id="mock", name="mock", type="openai", url=mock_url, api_key="sk-mock")
    openai_llm = OpenAIChat(OpenAIConnection(spec), "mock-t16")

    def turn_fn(svc: Any, llm: Any, stream: bool) -> Callable[[], Awaitable[None]]:
        agent = LlmAgent(name="a_bench", model=llm, instruction="You are terse.")
        runner = Runner(app_name="bench", agent=agent, session_service=svc)
        config = RunConfig(streaming_mode=StreamingMode.SSE if stream else StreamingMode.NONE)

        async def turn() -> None:
            s = await svc.create_session(app_name="bench", user_id="u")
            async for ev in runner.run_async(
                user_id="u", session_id=s.id, new_message=msg, run_config=config
            ):
                ev.model_dump(mode="json", by_alias=True, exclude_none=True)  # as magec's TurnEvent.to_json

        return turn

    async def sdk_turn() -> None:
        await sdk.chat.completions.create(model="mock-t16", messages=[{"role": "user", "content": "hi"}])

    steps = out["steps"] = {}
    try:
        steps["sdk_call"] = await _measure(sdk_turn, turns, warmup)
        instant = _instant_llm(16)
        for name, fix in (("adk_inmemory_instant", False), ("adk_inmemory_instant+a2a_fix", True),
                          ("adk_inmemory_instant (again, no fix)", False)):  # fmt: skip
            with a2a_import_fix(fix):
                steps[name] = await _measure(turn_fn(inmem, instant, False), turns, warmup)
        with a2a_import_fix(True):
            steps["adk_sql_instant+a2a_fix"] = await _measure(turn_fn(sql, instant, False), turns, warmup)
            steps["adk_sql_openai+a2a_fix"] = await _measure(turn_fn(sql, openai_llm, False), turns, warmup)
            steps["adk_inmemory_instant_stream+a2a_fix"] = await _measure(
                turn_fn(inmem, instant, True), turns, warmup
            )
            steps["adk_sql_openai_stream+a2a_fix"] = await _measure(
                turn_fn(sql, openai_llm, True), turns, warmup
            )
        steps["adk_sql_openai (no fix)"] = await _measure(turn_fn(sql, openai_llm, False), turns, warmup)
    finally:
        await sdk.close()
        close = getattr(sql, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
        await engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run(mock_url: str, turns: int = 200, warmup: int = 20) -> dict[str, Any]:
    try:
        import uvloop

        return uvloop.run(_run(mock_url, turns, warmup))  # type: ignore[no-any-return]
    except ImportError:
        return asyncio.run(_run(mock_url, turns, warmup))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--mock-url", required=True)
    p.add_argument("--turns", type=int, default=200)
    a = p.parse_args()
    print(json.dumps(run(a.mock_url, a.turns), indent=2))
