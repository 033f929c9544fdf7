"""Benchmark of the ``local`` backend's default chat model (SmolLM2-135M via llama.cpp).

``run()`` returns a dict (all times in seconds):

* ``load_s`` — first load of the GGUF (0 when already loaded in this process)
* ``first_token_s`` — median time from request to the first streamed partial ``LlmResponse``
* ``tokens_per_s`` — median generated tokens per second over the whole streamed turn
* ``decode_tokens_per_s`` — the same after the first token (generation speed alone)
* ``tokens`` — tokens generated per turn (median), ``turns`` — turns measured
* ``embed_batch32_s`` — 32 sentences through all-MiniLM-L6-v2 (None if not installed)
* ``side_by_side`` (issue "Scale", goal 8) — the same requests through magec's
  ``/v1/chat/completions`` (an agent on a ``local`` backend, in-process apps) and through
  llama-cpp-python directly, alternating, in this run: generated tokens per second of each (the
  best of ``turns`` rounds, the two sides in alternating order; ``median_ratio`` too), their ratio and the target
  (≥ 0.9×). The direct call replays the exact messages and sampling arguments magec gave llama.cpp
  (recorded from an untimed magec call of the same prompt: the agent's instructions included), on
  its own ``Llama`` with the same file, context and threads; each side has seen the prompt once
  before it is timed (llama.cpp reuses a cached prompt prefix: both sides alike).

Everything goes through the public ``magec.backends.local.TYPE`` (the ADK ``BaseLlm``), so the
numbers include our translation and threading overhead. Run: ``python bench/local_bench.py``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

from google.adk.models import LlmRequest
from google.genai import types

from magec.backends.base import BackendSpec
from magec.backends.local import TYPE

SPEC = BackendSpec(id="bench-local", name="bench-local", type="local")
PROMPTS = [
    "Write three sentences about the sea.",
    "Explain what a compiler does in a few sentences.",
    "Describe a sunny morning in a small town.",
]


async def _turn(llm: Any, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    req = LlmRequest(
        contents=[types.Content(role="user", parts=[types.Part(text=prompt)])],
        config=types.GenerateContentConfig(temperature=0, max_output_tokens=max_tokens),
    )
    start = time.perf_counter()
    first: float | None = None
    tokens = 0
    async for r in llm.generate_content_async(req, stream=True):
        if r.partial and first is None:
            first = time.perf_counter() - start
        if not r.partial and r.usage_metadata is not None:
            tokens = r.usage_metadata.candidates_token_count or 0
    total = time.perf_counter() - start
    return first if first is not None else total, total, tokens


async def _run(turns: int, max_tokens: int) -> dict[str, Any]:
    llm = TYPE.chat(SPEC, "smollm2")
    t = time.perf_counter()
    await llm.load()
    load_s = time.perf_counter() - t
    await _turn(llm, "Hello!", 8)  # warm-up
    firsts, rates, decode, counts = [], [], [], []
    for i in range(turns):
        first, total, tokens = await _turn(llm, PROMPTS[i % len(PROMPTS)], max_tokens)
        firsts.append(first)
        counts.append(tokens)
        rates.append(tokens / total if total > 0 else 0.0)
        decode.append((tokens - 1) / (total - first) if tokens > 1 and total > first else 0.0)
    out: dict[str, Any] = {
        "model": "smollm2",
        "load_s": round(load_s, 3),
        "first_token_s": round(statistics.median(firsts), 4),
        "tokens_per_s": round(statistics.median(rates), 1),
        "decode_tokens_per_s": round(statistics.median(decode), 1),
        "tokens": int(statistics.median(counts)),
        "turns": turns,
        "embed_batch32_s": None,
    }
    try:
        emb = TYPE.embeddings(SPEC)
        sentences = [f"This is benchmark sentence number {i} about local models." for i in range(32)]
        await emb.embed(sentences[:1], "")  # load
        t = time.perf_counter()
        await emb.embed(sentences, "")
        out["embed_batch32_s"] = round(time.perf_counter() - t, 3)
    except Exception:  # embeddings are optional for this bench
        pass
    return out


TARGET_RATIO = 0.9
SIDE_PROMPTS = [
    "Write a long story about a lighthouse keeper and the sea.",
    "Explain in detail how a steam engine works.",
    "Describe, step by step, a day in the life of a baker.",
]


def _count_stream(chunks: Any) -> int:
    """Generated pieces of a llama.cpp chat stream (what magec's usage counts as tokens)."""
    return sum(1 for c in chunks if c["choices"] and (c["choices"][0]["delta"].get("content") or ""))


async def _side_by_side(turns: int, max_tokens: int) -> dict[str, Any]:
    """See ``side_by_side`` in the module docstring."""
    import tempfile
    from pathlib import Path

    import llama_cpp

    from magec.backends.local import _workers
    from magec.testing.apps import running_apps

    recorded: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="magec-local-bench-") as tmp:
        async with running_apps(Path(tmp) / "data", start_clients=False) as apps:
            b = await apps.admin.post("/api/v1/admin/backends", json={"name": "local", "type": "local"})
            b.raise_for_status()
            a = await apps.admin.post("/api/v1/admin/agents",
                                      json={"name": "bench", "llm": {"backend": b.json()["id"], "model": "smollm2"}})  # fmt: skip
            a.raise_for_status()
            aid = a.json()["id"]

            async def through_magec(prompt: str) -> tuple[float, int]:
                body = {"model": aid, "messages": [{"role": "user", "content": prompt}],
                        "max_tokens": max_tokens, "temperature": 0}  # fmt: skip
                t0 = time.perf_counter()
                r = await apps.user.post("/v1/chat/completions", json=body, timeout=600)
                wall = time.perf_counter() - t0
                r.raise_for_status()
                return wall, int(r.json()["usage"]["completion_tokens"])

            await through_magec("Hello!")  # loads the model
            worker = next(w for k, w in _workers._cache.items() if k.startswith("chat:"))
            llama = worker.model.llama
            original = llama.create_chat_completion

            def record(**kw: Any) -> Any:
                recorded.append({k: v for k, v in kw.items() if k != "stream"})
                return original(**kw)

            llama.create_chat_completion = record
            threads = int(llama.n_threads)
            direct_llama = llama_cpp.Llama(model_path=str(worker.model.path), n_ctx=llama.n_ctx(),
                                           n_threads=llama.n_threads, verbose=False)  # fmt: skip
            if worker.model.has_template:
                direct_llama.chat_format = "chat_template.default"

            def direct(kw: dict[str, Any]) -> tuple[float, int]:
                t0 = time.perf_counter()
                n = _count_stream(direct_llama.create_chat_completion(**kw, stream=True))
                return time.perf_counter() - t0, n

            await asyncio.to_thread(direct, {"messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 8})
            rows: list[dict[str, Any]] = []
            for i in range(turns):
                prompt = SIDE_PROMPTS[i % len(SIDE_PROMPTS)] + ("" if i < len(SIDE_PROMPTS) else f" (take {i})")
                await through_magec(prompt)  # records llama.cpp's arguments; both sides then see it warm
                kw = recorded[-1]
                if i % 2:  # alternate the order: drift on a shared machine falls on both sides
                    d_wall, d_tokens = await asyncio.to_thread(direct, kw)
                    m_wall, m_tokens = await through_magec(prompt)
                else:
                    m_wall, m_tokens = await through_magec(prompt)
                    d_wall, d_tokens = await asyncio.to_thread(direct, kw)
                rows.append({"magec_s": round(m_wall, 3), "magec_tokens": m_tokens,
                             "direct_s": round(d_wall, 3), "direct_tokens": d_tokens})  # fmt: skip
            llama.create_chat_completion = original
            direct_llama.close()
    # the best round of each side (the least disturbed: on a shared machine a round's time is the
    # model's plus whatever else held the cores), and the medians as a second view
    magec_tps = max(r["magec_tokens"] / r["magec_s"] for r in rows)
    direct_tps = max(r["direct_tokens"] / r["direct_s"] for r in rows)
    ratio = magec_tps / direct_tps if direct_tps else 0.0
    median_ratio = statistics.median(r["magec_tokens"] / r["magec_s"] for r in rows) / max(
        1e-9, statistics.median(r["direct_tokens"] / r["direct_s"] for r in rows))
    return {
        "max_tokens": max_tokens,
        "threads": threads,
        "magec_tokens_per_s": round(magec_tps, 1),
        "direct_tokens_per_s": round(direct_tps, 1),
        "ratio": round(ratio, 3),
        "median_ratio": round(median_ratio, 3),
        "target": TARGET_RATIO,
        "verdict": "met" if ratio >= TARGET_RATIO else "missed",
        "rounds": rows,
    }


def run(turns: int = 5, max_tokens: int = 128) -> dict[str, Any]:
    """Measure the default local chat model; see the module docstring for the keys."""
    out = asyncio.run(_run(turns, max_tokens))
    out["side_by_side"] = asyncio.run(_side_by_side(turns, max_tokens))
    return out


def side_by_side(turns: int = 5, max_tokens: int = 128) -> dict[str, Any]:
    """Only the magec-vs-llama.cpp rows (``python -m bench.local_bench --side``)."""
    return asyncio.run(_side_by_side(turns, max_tokens))


if __name__ == "__main__":
    import sys

    print(json.dumps(side_by_side(3, 64) if "--side" in sys.argv else run(), indent=2))
