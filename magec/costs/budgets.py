"""Budgets: in-memory spend counters per client and per agent, and the check before a turn.

Contract:
* :class:`SpendCounters` holds, for the current UTC day and month, the tokens per (scope, id,
  model) where scope is ``client`` or ``agent``. :meth:`add` counts a usage row the moment it is
  recorded (this replica's turns are counted at once); :meth:`refresh` replaces the counters by
  the ``usage`` table's sums (every replica's turns), read incrementally by
  :class:`~magec.costs.tally.UsageTally` (only the rows written since the last refresh), and
  re-adds the rows this process recorded but had not written yet. A new day or month starts from
  zero.
* :meth:`check` (before a turn: dictionary look-ups, no I/O) raises
  :class:`~magec.errors.BudgetExceededError` when the client's or an agent's budget for the
  period is spent: ``spent >= amount``, in the price table's currency (``unit: "cost"``) or in
  tokens (input + output). A flow is checked against the budgets of every agent it runs.
  :meth:`check_spend` is the same check for provider calls outside a turn (speech, embeddings).
* **Replicas.** On one PostgreSQL, a replica sees another's spend once that replica wrote its
  usage rows (``usage`` flush, 0.5 s) and this one refreshed (``interval``, default 2 s): a budget
  can be overrun by the turns that start within that window plus the turns already running when
  it is crossed (a running turn is never cut).
"""

from __future__ import annotations

import asyncio
import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from magec.costs.prices import PriceTable
from magec.costs.tally import Counts, UsageTally, count, new_counts, period_start
from magec.errors import BudgetExceededError
from magec.memory import owners


def client_of(user_id: str, snapshot: Any) -> str:
    """The client a session owner ``<clientId>:<userId>`` belongs to ("" for none: open mode, the
    admin, a prefix that names no client)."""
    return owners.client_id(user_id, getattr(snapshot, "clients", {}))


def agents_of(app: Any) -> list[str]:
    """The agents whose budgets a turn of ``app`` is checked against: the agent, or every agent
    of a flow."""
    return [app.id] if app.kind == "agent" else sorted({a for a, _, _ in app.authors.values()})


def period_end(period: str, now: datetime) -> datetime:
    start = period_start(period, now)
    if period == "day":
        return start + timedelta(days=1)
    return start + timedelta(days=calendar.monthrange(start.year, start.month)[1])


class SpendCounters:
    def __init__(self) -> None:
        self._day: date | None = None
        self._month: tuple[int, int] | None = None
        self._counts: Counts = new_counts()
        self._pending: list[tuple[int, dict[str, Any]]] = []
        self.tally = UsageTally()

    # -- counting --------------------------------------------------------------------------------
    def _roll(self, now: datetime) -> None:
        day, month = now.date(), (now.year, now.month)
        if day != self._day:
            for key in [k for k in self._counts if k[2] == "day"]:
                del self._counts[key]
            self._day = day
        if month != self._month:
            for key in [k for k in self._counts if k[2] == "month"]:
                del self._counts[key]
            self._month = month

    def add(self, row: dict[str, Any], seq: int = 0) -> None:
        """A usage row this process just recorded (the ``seq``-th: :attr:`UsageRecorder.recorded`)."""
        now = datetime.now(UTC)
        self._roll(now)
        self._pending.append((seq, row))
        count(self._counts, row, now.date())

    async def refresh(self, engine: AsyncEngine, usage_recorder: Any = None) -> None:
        """Bring the sums up to the ``usage`` table (:class:`~magec.costs.tally.UsageTally`: the rows
        written since the last refresh). The recorder's queue is written first; the rows it had not
        taken by then (recorded meanwhile) are counted again on top of what was read."""
        if usage_recorder is not None:  # shielded: a cancel never interrupts its write (runtime/usage.py)
            await asyncio.shield(usage_recorder.flush())
        db = await self.tally.read(engine)
        now = datetime.now(UTC)
        counts = new_counts()
        for key, per_model in db.items():
            counts[key] = {model: list(tokens) for model, tokens in per_model.items()}
        self._counts, self._day, self._month = counts, now.date(), (now.year, now.month)
        taken = usage_recorder.taken if usage_recorder is not None else 0
        self._pending = [(seq, row) for seq, row in self._pending if seq > taken]
        for _, row in self._pending:
            count(self._counts, row, self._day)

    # -- reading ---------------------------------------------------------------------------------
    def spent(self, scope: str, rid: str, period: str, unit: str, prices: PriceTable) -> float:
        self._roll(datetime.now(UTC))
        per_model = self._counts.get((scope, rid, period), {})
        if unit == "tokens":
            return float(sum(t[0] + t[1] for t in per_model.values()))
        total = 0.0
        for model, (tin, tout, tcached) in per_model.items():
            price = prices.price_of(model)
            if price is not None:
                total += price.cost(tin, tout, tcached)
        return total

    def check(self, runtime: Any, app: Any, user_id: str, prices: PriceTable) -> str:
        """Raise BudgetExceededError when a budget of this turn is spent; the turn's client id."""
        snap = runtime.snapshot
        client_id = client_of(user_id, snap)
        self.check_spend(snap, client_id, agents_of(app), prices)
        return client_id

    def check_spend(self, snap: Any, client_id: str, agent_ids: list[str], prices: PriceTable) -> None:
        """Raise BudgetExceededError when the budget of ``client_id`` ("" for none) or of one of
        ``agent_ids`` is spent (a turn's check, and the one before a call outside a turn)."""
        targets: list[tuple[str, str, str, Any]] = []
        client = snap.clients.get(client_id) if client_id else None
        if client is not None and client.budget is not None:
            targets.append(("client", client_id, client.name, client.budget))
        for aid in agent_ids:
            agent = snap.agents.get(aid)
            if agent is not None and agent.budget is not None:
                targets.append(("agent", aid, agent.name, agent.budget))
        for scope, rid, name, budget in targets:
            spent = self.spent(scope, rid, budget.period, budget.unit, prices)
            if spent >= budget.amount:
                resets = period_end(budget.period, datetime.now(UTC)).isoformat().replace("+00:00", "Z")
                what = "tokens" if budget.unit == "tokens" else prices.currency
                raise BudgetExceededError(
                    f"the {'daily' if budget.period == 'day' else 'monthly'} budget of {scope} {name!r} is spent "
                    f"({_fmt(spent)} of {_fmt(budget.amount)} {what}); it resets at {resets}",
                    scope=scope,
                    resets_at=resets,
                )

    def status(self, snap: Any, prices: PriceTable) -> list[dict[str, Any]]:
        """Every budget with what is spent of it (``GET /costs/budgets``)."""
        now = datetime.now(UTC)
        out: list[dict[str, Any]] = []
        for scope, items in (("client", snap.clients), ("agent", snap.agents)):
            for rid, res in items.items():
                budget = getattr(res, "budget", None)
                if budget is None:
                    continue
                spent = self.spent(scope, rid, budget.period, budget.unit, prices)
                out.append({
                    "scope": scope, "id": rid, "name": res.name, "amount": budget.amount,
                    "period": budget.period, "unit": budget.unit,
                    "currency": prices.currency if budget.unit == "cost" else "tokens",
                    "spent": round(spent, 6), "remaining": round(max(budget.amount - spent, 0.0), 6),
                    "exceeded": spent >= budget.amount,
                    "resetsAt": period_end(budget.period, now).isoformat().replace("+00:00", "Z"),
                })
        return out


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 or value == int(value) else f"{value:.4g}"
