"""Benchmark of the ``local`` backend's default chat model (SmolLM2-135M via llama.cpp).

``run()`` returns a dict (all times in seconds):

* ``load_s`` — first load of the GGUF (0 when already loaded in this process)
* ``first_token_s`` — median time from request to the first streamed partial ``LlmResponse``
* ``tokens_per_s`` — median generated tokens per second over the whole streamed turn
* ``decode_tokens_per_s`` — the same after the first token (generation speed alone)
* ``tokens`` — tokens generated per turn (median), ``turns`` — turns measured
* ``embed_batch32_s`` — 32 sentences through all-MiniLM-L6-v2 (None if not installed)

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


def run(turns: int = 5, max_tokens: int = 128) -> dict[str, Any]:
    """Measure the default local chat model; see the module docstring for the keys."""
    return asyncio.run(_run(turns, max_tokens))


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
