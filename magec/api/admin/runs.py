"""Flow runs on the Admin API (Magec G2's run audit; docs/costs.md).

* ``GET /runs?appName=&status=&from=&to=&limit=30&offset=0`` — ``{items, total}``, newest first;
  ``appName`` (or ``flowId``) is the flow id, ``status`` one of ``completed``, ``failed``,
  ``cancelled``, ``from``/``to`` days (UTC, ``to`` inclusive).
* ``DELETE /runs?before=YYYY-MM-DD`` — deletes the runs started before that day (UTC):
  ``{"deleted": n}``; there is no automatic retention.
* ``GET /runs/{id}`` — one run with its ``activations`` (per node: timing, routes, agent,
  backend, model, tokens, output preview).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request

from magec.api.admin.costs import param, parse_day
from magec.context import AppContext
from magec.costs import runs
from magec.errors import NotFoundError, ValidationError

MAX_LIMIT = 500


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = param(request, name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name}: must be an integer", field=name) from None
    if not low <= value <= high:
        raise ValidationError(f"{name}: must be between {low} and {high}", field=name)
    return value


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/runs", tags=["runs"])

    async def flush() -> None:
        svc = ctx.extras.get("costs")
        if svc is not None:
            await svc.runs.flush()  # this process's finished runs are listed at once

    @r.get("", summary="Flow runs, newest first (filters: appName, status, from, to; paging)")
    async def list_runs(request: Request) -> dict[str, Any]:
        status = param(request, "status") or None
        if status is not None and status not in runs.STATUSES:
            raise ValidationError(f"status: one of {', '.join(runs.STATUSES)}", field="status")
        since = parse_day(param(request, "from"), "from")
        to = parse_day(param(request, "to"), "to")
        limit = _int(request, "limit", 30, 1, MAX_LIMIT)
        offset = _int(request, "offset", 0, 0, 10**9)
        await flush()
        return await runs.list_runs(
            ctx.store.engine,
            app_id=param(request, "appName") or param(request, "flowId") or None,
            status=status,
            since=datetime(since.year, since.month, since.day, tzinfo=UTC) if since else None,
            until=datetime(to.year, to.month, to.day, tzinfo=UTC) + timedelta(days=1) if to else None,
            limit=limit,
            offset=offset,
        )

    @r.delete("", summary="Delete the runs that started before a day (retention)")
    async def delete_runs(request: Request) -> dict[str, int]:
        before = parse_day(param(request, "before"), "before")
        if before is None:
            raise ValidationError("before: is required (YYYY-MM-DD; runs started before that day are deleted)",
                                  field="before")
        await flush()
        deleted = await runs.delete_runs(ctx.store.engine,
                                         before=datetime(before.year, before.month, before.day, tzinfo=UTC))
        return {"deleted": deleted}

    @r.get("/{run_id}", summary="One flow run with its activations (path, per-node timing)")
    async def get_run(run_id: str) -> dict[str, Any]:
        await flush()
        found = await runs.get_run(ctx.store.engine, run_id)
        if found is None:
            raise NotFoundError(f"run {run_id!r} not found")
        return found

    return r
