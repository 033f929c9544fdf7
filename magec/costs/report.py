"""Cost reports: usage × prices, grouped by agent, backend, client, model and/or day.

Contract of :func:`costs`: sums the ``usage`` table's LLM rows in ``[since, until)`` per group and
model in SQL, then prices each model with the current :class:`~magec.costs.prices.PriceTable`
(so editing a price changes past costs too: the table is what you say tokens cost, not a bill).
Every item carries its tokens, ``calls``, ``cost`` and, when some of its tokens belong to models
with no price, ``unpriced: true`` with those ``unpricedModels`` and ``unpricedTokens`` (counted
at 0). Days are UTC. :func:`to_csv` is the same report as CSV (one line per item).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.costs.prices import PriceTable
from magec.csv_cells import safe_cell
from magec.store.tables import usage

GROUPS = ("agent", "backend", "client", "model", "day")


def _day(dialect: str) -> Any:
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", usage.c.at), "YYYY-MM-DD")
    return sa.func.substr(sa.cast(usage.c.at, sa.String), 1, 10)


def _column(group: str, dialect: str) -> Any:
    return {
        "agent": usage.c.agent_id,
        "backend": usage.c.backend_id,
        "client": usage.c.client_id,
        "model": usage.c.model,
    }.get(group) if group != "day" else _day(dialect)


async def costs(engine: AsyncEngine, prices: PriceTable, snapshot: Any, group_by: list[str],
                since: datetime, until: datetime) -> dict[str, Any]:
    dialect = engine.dialect.name
    keys = [_column(g, dialect).label(f"g_{g}") for g in group_by]
    q = (
        sa.select(*keys, usage.c.model.label("price_model"), sa.func.sum(usage.c.input_tokens),
                  sa.func.sum(usage.c.output_tokens), sa.func.sum(usage.c.cached_tokens), sa.func.count())
        .where(usage.c.kind == "llm", usage.c.at >= since, usage.c.at < until)
        .group_by(*keys, usage.c.model)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(q)).all()
    items: dict[tuple[str, ...], dict[str, Any]] = {}
    total = _empty()
    for row in rows:
        key = tuple(str(v or "") for v in row[: len(group_by)])
        model, tin, tout, tcached, calls = row[len(group_by):]
        item = items.get(key)
        if item is None:
            item = items[key] = {**_names(group_by, key, snapshot), **_empty()}
        for acc in (item, total):
            _add(acc, prices, str(model or ""), int(tin or 0), int(tout or 0), int(tcached or 0), int(calls))
    ordered = sorted(items.values(), key=lambda i: (-i["cost"], [str(i.get(g, "")) for g in group_by]))
    if group_by == ["day"]:
        ordered = sorted(items.values(), key=lambda i: i["day"])
    return {
        "currency": prices.currency,
        "from": since.date().isoformat(),
        "to": (until - timedelta(microseconds=1)).date().isoformat(),  # the last day included
        "groupBy": group_by,
        "items": [_finish(i) for i in ordered],
        "total": _finish(total),
    }


def _empty() -> dict[str, Any]:
    return {"inputTokens": 0, "outputTokens": 0, "cachedTokens": 0, "calls": 0, "cost": 0.0,
            "unpricedTokens": 0, "unpricedModels": []}


def _add(acc: dict[str, Any], prices: PriceTable, model: str, tin: int, tout: int, tcached: int,
         calls: int) -> None:
    acc["inputTokens"] += tin
    acc["outputTokens"] += tout
    acc["cachedTokens"] += tcached
    acc["calls"] += calls
    price = prices.price_of(model)
    if price is None:
        acc["unpricedTokens"] += tin + tout
        if model not in acc["unpricedModels"]:
            acc["unpricedModels"].append(model)
    else:
        acc["cost"] += price.cost(tin, tout, tcached)


def _finish(acc: dict[str, Any]) -> dict[str, Any]:
    acc["cost"] = round(acc["cost"], 6)
    acc["unpriced"] = bool(acc["unpricedModels"])
    acc["unpricedModels"] = sorted(acc["unpricedModels"])
    return acc


def _names(group_by: list[str], key: tuple[str, ...], snap: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kinds = {"agent": "agents", "backend": "backends", "client": "clients"}
    for group, value in zip(group_by, key, strict=True):
        out[group] = value
        if group in kinds:
            res = getattr(snap, kinds[group], {}).get(value)
            out[f"{group}Name"] = res.name if res is not None else ("" if value else "(none)")
    return out


def _decimal(amount: float) -> str:
    """``amount`` in plain decimal notation, every digit of its shortest repr kept: a spreadsheet
    or a reader of the file sees ``0.000046``, not ``4.6e-05``."""
    return format(Decimal(repr(float(amount))), "f")


def to_csv(report: dict[str, Any]) -> str:
    group_by: list[str] = report["groupBy"]
    head: list[str] = []
    for g in group_by:
        head += [g, f"{g}Name"] if g in ("agent", "backend", "client") else [g]
    head += ["inputTokens", "outputTokens", "cachedTokens", "calls", "cost", "currency", "unpriced",
             "unpricedModels"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(head)
    for item in report["items"]:
        line = [item.get(h, "") for h in head]
        line[head.index("currency")] = report["currency"]
        line[head.index("unpricedModels")] = " ".join(item["unpricedModels"])
        line[head.index("unpriced")] = "true" if item["unpriced"] else "false"
        line[head.index("cost")] = _decimal(item["cost"])
        writer.writerow([safe_cell(v) for v in line])  # no formulas from names a user typed
    return buf.getvalue()
