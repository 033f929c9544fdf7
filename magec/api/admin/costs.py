"""Costs on the Admin API (magec's, beyond Magec; docs/costs.md).

* ``GET /costs?groupBy=agent|backend|client|model|day[,…]&from=YYYY-MM-DD&to=YYYY-MM-DD`` — cost
  report (usage × prices); ``to`` is inclusive, default the last 30 days up to today (UTC).
* ``GET /costs/export`` — the same report as CSV (same parameters).
* ``GET /costs/prices`` — the price table; ``PUT /costs/prices`` replaces it
  (``{currency, prices: [{model, input, output, cached}]}``, per 1M tokens); ``PUT
  /costs/prices/{model}`` sets one model, ``DELETE /costs/prices/{model}`` removes one,
  ``POST /costs/prices/reset`` restores the shipped defaults.
* ``GET /costs/budgets`` — every client and agent budget with what is spent of it.

Query parameters are accepted in camelCase and snake_case; bad input is a 400 naming it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from magec.context import AppContext
from magec.costs import prices as price_store
from magec.costs import report
from magec.costs.prices import ModelPrice, PriceTableBody, normalise
from magec.costs.service import CostService
from magec.errors import NotFoundError, ValidationError

DEFAULT_DAYS = 30
MAX_DAYS = 3660


def service(ctx: AppContext) -> CostService:
    svc = ctx.extras.get("costs")
    if svc is None:
        raise NotFoundError("costs are not available (the runtime is not started)")
    return svc  # type: ignore[no-any-return]


def param(request: Request, camel: str) -> str | None:
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    value = request.query_params.get(camel)
    return value if value is not None else request.query_params.get(snake)


def parse_day(value: str | None, field: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{field}: must be a date (YYYY-MM-DD)", field=field) from None


def date_range(request: Request) -> tuple[datetime, datetime]:
    """``[from 00:00, to + 1 day 00:00)`` in UTC; default the last 30 days."""
    today = datetime.now(UTC).date()
    to = parse_day(param(request, "to"), "to") or today
    since = parse_day(param(request, "from"), "from") or (to - timedelta(days=DEFAULT_DAYS - 1))
    if since > to:
        raise ValidationError("from: must not be after 'to'", field="from")
    if (to - since).days > MAX_DAYS:
        raise ValidationError(f"from: at most {MAX_DAYS} days before 'to'", field="from")
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    end = datetime(to.year, to.month, to.day, tzinfo=UTC) + timedelta(days=1)
    return start, end


def group_by(request: Request) -> list[str]:
    raw = param(request, "groupBy") or "agent"
    groups = [g.strip() for g in raw.split(",") if g.strip()]
    bad = [g for g in groups if g not in report.GROUPS]
    if bad or not groups or len(set(groups)) != len(groups):
        raise ValidationError(
            f"groupBy: one or more of {', '.join(report.GROUPS)} (comma-separated, each once); got {raw!r}",
            field="groupBy",
        )
    return groups


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/costs", tags=["costs"])

    async def build(request: Request) -> dict[str, Any]:
        groups = group_by(request)
        since, until = date_range(request)
        svc = service(ctx)
        await svc.usage.flush()  # this process's own turns are in the report
        snap = (await ctx.runtime.fresh()).snapshot if ctx.runtime else None  # names as of this request
        return await report.costs(ctx.store.engine, svc.prices, snap, groups, since, until)

    @r.get("", summary="Cost per agent / backend / client / model / day from usage × prices")
    async def costs(request: Request) -> dict[str, Any]:
        svc = service(ctx)
        svc.prices = await _fresh_prices(svc)
        return await build(request)

    @r.get("/export", summary="The cost report as CSV")
    async def export(request: Request) -> Response:
        svc = service(ctx)
        svc.prices = await _fresh_prices(svc)
        data = await build(request)
        name = f"magec-costs-{data['from']}-{data['to']}.csv"
        return Response(report.to_csv(data), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @r.get("/prices", summary="The price table (per 1M tokens)")
    async def get_prices() -> dict[str, Any]:
        svc = service(ctx)
        svc.prices = await _fresh_prices(svc)
        return svc.prices.to_json()

    @r.put("/prices", summary="Replace the price table")
    async def put_prices(body: PriceTableBody) -> dict[str, Any]:
        return (await service(ctx).set_prices(body.check())).to_json()

    @r.post("/prices/reset", summary="Back to the shipped default prices")
    async def reset_prices() -> dict[str, Any]:
        return (await service(ctx).set_prices(None)).to_json()

    @r.put("/prices/{model:path}", summary="Set the price of one model")
    async def put_price(model: str, body: ModelPrice) -> dict[str, Any]:
        if normalise(body.model) != normalise(model):
            raise ValidationError("model: must match the model in the URL", field="model")
        svc = service(ctx)
        current = await _fresh_prices(svc)
        entries = [p for p in current.entries if normalise(p.model) != normalise(model)] + [body]
        return (await svc.set_prices(PriceTableBody(currency=current.currency, prices=entries))).to_json()

    @r.delete("/prices/{model:path}", summary="Remove the price of one model (it becomes unpriced)")
    async def delete_price(model: str) -> dict[str, Any]:
        svc = service(ctx)
        current = await _fresh_prices(svc)
        entries = [p for p in current.entries if normalise(p.model) != normalise(model)]
        if len(entries) == len(current.entries):
            raise NotFoundError(f"no price for model {model!r}")
        return (await svc.set_prices(PriceTableBody(currency=current.currency, prices=entries))).to_json()

    @r.get("/budgets", summary="Every client and agent budget with what is spent of it")
    async def budgets() -> list[dict[str, Any]]:
        svc = service(ctx)
        await svc.refresh()
        snap = (await ctx.runtime.fresh()).snapshot if ctx.runtime else None  # names as of this request
        return svc.counters.status(snap, svc.prices) if snap is not None else []

    return r


async def _fresh_prices(svc: CostService) -> price_store.PriceTable:
    """The stored table (another replica may have edited it since this one last refreshed)."""
    return await price_store.load(svc.engine)
