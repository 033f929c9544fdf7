"""Per-token CPU of magec's streaming path, in process, with the shipped ``FakeLlm`` (no network).

A streamed turn whose model yields one partial per word is relayed through ``/v1/chat/completions``
(stream) and ``/api/v1/agent/run_sse`` (streaming) over ASGI; the process CPU time of ``turns``
turns is divided by the number of tokens (words) the client received as streamed deltas, however they
were batched. What is measured is magec + ADK + the ASGI
client, i.e. everything between the model's partials and the bytes a client reads.

``run()`` returns ``{"v1_us_per_token", "run_sse_us_per_token", "tokens_per_turn", "turns"}``.
Run: ``python bench/stream_cpu.py``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

A = "/api/v1/admin"


async def _run(turns: int, words: int) -> dict[str, Any]:
    from magec.backends import registry
    from magec.backends.fake import FakeBackendType
    from magec.testing.apps import running_apps

    registry.register(FakeBackendType(record=False))
    tmp = Path(tempfile.mkdtemp(prefix="magec-stream-cpu-"))
    try:
        async with running_apps(tmp / "data") as apps:
            b = (await apps.admin.post(f"{A}/backends", json={"name": "fake", "type": "fake"})).json()
            a = (await apps.admin.post(f"{A}/agents", json={"name": "S", "llm": {"backend": b["id"], "model": "m"}})).json()
            prompt = " ".join(f"w{i}" for i in range(words))

            async def v1() -> int:
                n = 0
                async with apps.user.stream("POST", "/v1/chat/completions", json={
                        "model": a["id"], "stream": True, "messages": [{"role": "user", "content": prompt}]}) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: {"):
                            for choice in json.loads(line[6:]).get("choices") or []:
                                n += len(((choice.get("delta") or {}).get("content") or "").split())
                return n

            async def sse(i: int) -> int:
                n = 0
                async with apps.user.stream("POST", "/api/v1/agent/run_sse", json={
                        "appName": a["id"], "userId": "u", "sessionId": f"s{i}", "streaming": True,
                        "newMessage": {"parts": [{"text": prompt}]}}) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: "):
                            event = json.loads(line[6:])
                            if event.get("partial"):
                                n += sum(len((p.get("text") or "").split()) for p in event["content"]["parts"])
                return n

            await v1()
            await sse(-1)
            out: dict[str, Any] = {"turns": turns}
            t0, tokens = time.process_time(), 0
            for _ in range(turns):
                tokens += await v1()
            out["v1_us_per_token"] = round((time.process_time() - t0) / tokens * 1e6, 1)
            out["tokens_per_turn"] = tokens // turns
            t0, tokens = time.process_time(), 0
            for i in range(turns):
                tokens += await sse(i)
            out["run_sse_us_per_token"] = round((time.process_time() - t0) / tokens * 1e6, 1)
            return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(turns: int = 20, words: int = 200) -> dict[str, Any]:
    """Measure per-token CPU on both streaming routes; see the module docstring."""
    return asyncio.run(_run(turns, words))


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
