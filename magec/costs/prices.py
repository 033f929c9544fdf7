"""The price table: what one million tokens of a model cost (input, output, cached input).

Contract:
* The table is ``{"currency": "USD", "prices": [{"model", "input", "output", "cached"}]}``; prices
  are per 1M tokens, ``>= 0``. Defaults for common OpenAI, Anthropic and Gemini models ship as data
  (``default_prices.json``); an edited table is stored in ``cost_prices`` (one row) and replaces
  the defaults as a whole (``reset`` brings them back).
* :meth:`PriceTable.price_of` matches a model name exactly, else by the longest entry that is a
  prefix ending at a separator (``gpt-4o-mini`` prices ``gpt-4o-mini-2024-07-18``; ``gpt-4o`` does
  not price ``gpt-4o-mini``), case-insensitively and without a ``models/`` prefix. A model with no
  entry (``local`` models, anything unknown) costs 0 and is reported as *unpriced*.
* Cost of a usage row: ``(input - cached) * input + cached * cached_price + output * output``,
  each / 1e6 (``input`` counts cached prompt tokens too, as the providers report them).
* Request bodies are validated by :class:`PriceTableBody` (400 naming the field, e.g.
  ``prices[2].input``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.costs.tables import cost_prices
from magec.errors import ValidationError

DEFAULTS_FILE = Path(__file__).with_name("default_prices.json")
_SEPARATORS = "-@:._/"


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ModelPrice(_Body):
    model: str = Field(min_length=1, max_length=256)
    input: float = Field(default=0.0, ge=0, le=1_000_000)
    output: float = Field(default=0.0, ge=0, le=1_000_000)
    cached: float | None = Field(default=None, ge=0, le=1_000_000)

    @field_validator("model")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        return v


class PriceTableBody(_Body):
    currency: str = Field(default="USD", min_length=1, max_length=8, pattern=r"^[A-Za-z$€£¥]+$")
    prices: list[ModelPrice] = Field(default_factory=list, max_length=2000)

    def check(self) -> PriceTableBody:
        """Rules across entries (ValidationError naming the entry): a model is listed once."""
        seen: set[str] = set()
        for i, p in enumerate(self.prices):
            key = normalise(p.model)
            if key in seen:
                raise ValidationError(f"prices[{i}].model: {p.model!r} is listed twice", field=f"prices[{i}].model")
            seen.add(key)
        return self


def normalise(model: str) -> str:
    m = model.strip().lower()
    return m.removeprefix("models/")


@dataclass(frozen=True)
class Price:
    model: str
    input: float
    output: float
    cached: float

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        cached = min(max(cached_tokens, 0), input_tokens)
        return ((input_tokens - cached) * self.input + cached * self.cached + output_tokens * self.output) / 1e6


class PriceTable:
    def __init__(self, currency: str, prices: list[ModelPrice], *, defaults: bool = False) -> None:
        self.currency = currency
        self.defaults = defaults
        self.entries = prices
        self._by_key = {
            normalise(p.model): Price(p.model, p.input, p.output, p.input if p.cached is None else p.cached)
            for p in prices
        }
        self._memo: dict[str, Price | None] = {}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, defaults: bool = False) -> PriceTable:
        body = PriceTableBody.model_validate({k: v for k, v in data.items() if k != "note"})
        return cls(body.currency, body.prices, defaults=defaults)

    def price_of(self, model: str) -> Price | None:
        key = normalise(model)
        if key in self._memo:
            return self._memo[key]
        found = self._by_key.get(key)
        if found is None:
            best = ""
            for entry in self._by_key:
                if len(entry) > len(best) and key.startswith(entry) and key[len(entry)] in _SEPARATORS:
                    best = entry
            found = self._by_key.get(best) if best else None
        if len(self._memo) < 10_000:
            self._memo[key] = found
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "defaults": self.defaults,
            "prices": [p.model_dump(by_alias=True) for p in self.entries],
        }


def default_table() -> PriceTable:
    return PriceTable.from_json(json.loads(DEFAULTS_FILE.read_text()), defaults=True)


async def load(engine: AsyncEngine) -> PriceTable:
    """The stored table, or the defaults when none was saved."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(cost_prices.c.data).where(cost_prices.c.id == 1))).first()
    if row is None:
        return default_table()
    return PriceTable.from_json(json.loads(row[0]))


async def save(engine: AsyncEngine, body: PriceTableBody | None) -> PriceTable:
    """Store ``body`` as the table (``None``: back to the defaults); the table now in force."""
    async with engine.begin() as conn:
        await conn.execute(cost_prices.delete().where(cost_prices.c.id == 1))
        if body is not None:
            data = json.dumps(body.model_dump(by_alias=True, exclude_none=True))
            await conn.execute(cost_prices.insert().values(id=1, data=data, updated_at=datetime.now(UTC)))
    return default_table() if body is None else PriceTable(body.currency, body.prices)
