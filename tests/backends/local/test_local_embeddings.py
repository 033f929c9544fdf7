"""all-MiniLM-L6-v2 in numpy: real vectors, 384-d, unit length, semantically ordered."""

from __future__ import annotations

import math

import pytest

from magec.backends.local.embeddings import LocalEmbeddings

pytestmark = pytest.mark.local


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


async def test_cat_is_closer_to_feline_than_to_invoice(embedder: LocalEmbeddings) -> None:
    cat, feline, invoice = await embedder.embed(["cat", "feline", "invoice"], "all-minilm-l6-v2")
    assert len(cat) == len(feline) == len(invoice) == 384
    assert _cos(cat, feline) > _cos(cat, invoice)
    for v in (cat, feline, invoice):
        assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, abs_tol=1e-5)


async def test_matches_the_sentence_transformers_reference(embedder: LocalEmbeddings) -> None:
    # stack.md §4: sentence-transformers 6.2.0 gives cos = 0.558 for this pair
    a, b, c = await embedder.embed(
        ["The cat sits on the mat.", "A feline rests on a rug.", "Quarterly revenue grew 5%."], ""
    )
    assert _cos(a, b) == pytest.approx(0.558, abs=0.001)
    assert _cos(a, c) < 0.1


async def test_order_is_kept_across_batches_and_lengths(embedder: LocalEmbeddings) -> None:
    texts = [f"sentence number {i} " + "word " * (i % 7) for i in range(70)]
    together = await embedder.embed(texts, "")
    alone = [(await embedder.embed([t], ""))[0] for t in texts[:3] + texts[-2:]]
    for got, want in zip(together[:3] + together[-2:], alone, strict=True):
        assert _cos(got, want) > 0.9999


async def test_empty_input_and_unknown_model(embedder: LocalEmbeddings) -> None:
    from magec.errors import BackendNotFoundError

    assert await embedder.embed([], "") == []
    with pytest.raises(BackendNotFoundError):
        await embedder.embed(["x"], "text-embedding-3-small")
