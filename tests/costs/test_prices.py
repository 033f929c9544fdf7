"""The price table's rules, as plain functions: matching by exact name or longest prefix at a
separator, the cost of a call with cached prompt tokens, the shipped defaults are valid."""

from __future__ import annotations

import pytest

from magec.costs.prices import ModelPrice, PriceTable, default_table


def table() -> PriceTable:
    return PriceTable("USD", [ModelPrice(model="gpt-4o", input=2.5, output=10, cached=1.25),
                              ModelPrice(model="gpt-4o-mini", input=0.15, output=0.6),
                              ModelPrice(model="o3", input=2, output=8)])


@pytest.mark.parametrize(("model", "priced_as"), [
    ("gpt-4o", "gpt-4o"), ("GPT-4o", "gpt-4o"), ("models/gpt-4o", "gpt-4o"),
    ("gpt-4o-2024-08-06", "gpt-4o"), ("gpt-4o-mini", "gpt-4o-mini"), ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("o3", "o3"), ("o3-pro", "o3"), ("o3x", None), ("gpt-4", None), ("llama3.2", None), ("", None),
])
def test_matching(model: str, priced_as: str | None) -> None:
    price = table().price_of(model)
    assert (price.model if price else None) == priced_as


def test_cost_with_cached_tokens() -> None:
    price = table().price_of("gpt-4o")
    assert price is not None
    # 1000 prompt tokens of which 400 from cache, 100 completion tokens
    assert price.cost(1000, 100, 400) == pytest.approx((600 * 2.5 + 400 * 1.25 + 100 * 10) / 1e6)
    assert price.cost(1000, 100, 5000) == pytest.approx((1000 * 1.25 + 100 * 10) / 1e6)  # never more than the input
    mini = table().price_of("gpt-4o-mini")
    assert mini is not None and mini.cached == 0.15  # no cached price: the input price


def test_defaults_cover_common_models() -> None:
    defaults = default_table()
    assert defaults.defaults and defaults.currency == "USD"
    for model in ("gpt-4o-mini-2024-07-18", "gpt-4.1", "o4-mini", "claude-3-5-haiku-20241022",
                  "claude-sonnet-4-20250514", "gemini-2.5-flash", "gemini-2.0-flash-001"):
        assert defaults.price_of(model) is not None, model
    assert defaults.price_of("llama3.2:3b") is None  # local models are unpriced
