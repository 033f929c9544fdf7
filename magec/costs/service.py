"""The costs service: one per process, created by the composition root (:mod:`magec.server`).

It is a *turn observer* (the interface :func:`magec.runtime.run.run_turn` calls, shared with the
conversation audit through :class:`~magec.costs.observe.TurnObservers`):

* :meth:`CostService.begin` runs before every turn: the budget check (in memory; raises
  :class:`~magec.errors.BudgetExceededError`), the turn's client for the usage rows
  (:data:`magec.runtime.usage.TURN_CLIENT`) and, for a flow, a :class:`~magec.costs.runs.RunTrace`;
  it returns a probe whose ``see`` / ``finish`` the turn calls.
* :meth:`CostService.check_call` is the same check before a provider call that is no turn
  (speech, embeddings: the voice routes, ``/v1/audio/*``, ``/v1/embeddings``, a bot's voice
  message). Not named ``admit``: :class:`~magec.costs.observe.TurnObservers` calls every
  observer's ``admit`` before a turn.
* A usage listener counts every usage row into the budget counters at once and gives it to the
  flow run being traced in this context.
* Background: flow runs are written by a :class:`~magec.costs.writer.BatchWriter`; every
  ``refresh_interval`` seconds the counters and the price table are re-read from the database
  (other replicas' spend and price edits), see :mod:`magec.costs.budgets`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextvars import ContextVar, Token
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from magec.audit.context import current as attribution
from magec.costs import prices as price_store
from magec.costs.budgets import SpendCounters, agents_of
from magec.costs.prices import PriceTable, PriceTableBody
from magec.costs.runs import RunTrace
from magec.costs.tables import flow_runs
from magec.costs.writer import BatchWriter
from magec.errors import BudgetExceededError
from magec.runtime.usage import TURN_CLIENT, UsageRecorder

log = logging.getLogger(__name__)

_TRACE: ContextVar[RunTrace | None] = ContextVar("magec_flow_run", default=None)


class CostProbe:
    """One turn as the costs service sees it."""

    def __init__(self, service: CostService, trace: RunTrace | None, client: Token[str],
                 run: Token[RunTrace | None] | None) -> None:
        self.service = service
        self.trace = trace
        self._tokens = (client, run)
        self._done = False

    def see(self, event: Any) -> None:
        if self.trace is not None:
            try:
                self.trace.see(event)
            except Exception:  # noqa: BLE001 - a bug in tracing must never break a turn
                log.exception("flow run trace failed; this run is not recorded")
                self.trace = None

    def finish(self) -> None:
        if self._done:
            return
        self._done = True
        client, run = self._tokens
        # finished in another context (a cancelled stream): nothing of this turn leaks there
        with contextlib.suppress(ValueError):
            TURN_CLIENT.reset(client)
        if run is not None:
            with contextlib.suppress(ValueError):
                _TRACE.reset(run)
        if self.trace is not None:
            try:
                self.trace.finish()
                self.service.runs.put(self.trace.row)  # built (JSON) by the writer, off the turn
            except Exception:  # noqa: BLE001 - accounting must never break serving
                log.exception("could not record the flow run")


class CostService:
    def __init__(self, engine: AsyncEngine, usage: UsageRecorder, *, refresh_interval: float = 2.0) -> None:
        self.engine = engine
        self.usage = usage
        self.refresh_interval = refresh_interval
        self.counters = SpendCounters()
        self.prices: PriceTable = price_store.default_table()
        self.runs = BatchWriter(engine, flow_runs)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self.usage.listeners.append(self._on_usage)
        self.runs.start()
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(ValueError):
            self.usage.listeners.remove(self._on_usage)
        await self.runs.close()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval)
            try:
                await self.refresh()
            except Exception as e:  # noqa: BLE001 - keep the last counters; try again next time
                log.warning("could not refresh spend counters: %s", e)

    async def refresh(self) -> None:
        self.prices = await price_store.load(self.engine)
        await self.counters.refresh(self.engine, self.usage)

    async def set_prices(self, body: PriceTableBody | None) -> PriceTable:
        self.prices = await price_store.save(self.engine, body)
        return self.prices

    # -- the turn observer -------------------------------------------------------------------------
    def begin(self, runtime: Any, app: Any, owner: str, session_id: str, message: Any) -> CostProbe:
        try:
            client_id = self.counters.check(runtime, app, owner, self.prices)
        except BudgetExceededError:
            raise
        except Exception:  # noqa: BLE001 - a bug in accounting must never stop a turn
            log.exception("budget check failed; the turn runs")
            client_id = ""
        trace = None
        if app.kind == "flow":
            try:
                who = attribution()  # the surface, as the conversation audit records it
                user = owner.partition(":")[2] if client_id else owner  # as the client knows it
                trace = RunTrace(app=app, snapshot=runtime.snapshot, user_id=user, session_id=session_id,
                                 client_id=client_id, source=(who.source or who.surface) if who else "api")
            except Exception:  # noqa: BLE001 - the run is not recorded, the turn runs
                log.exception("could not trace the flow run")
        client = TURN_CLIENT.set(client_id)
        run = _TRACE.set(trace) if trace is not None else None
        return CostProbe(self, trace, client, run)

    # -- provider calls outside a turn ------------------------------------------------------------
    def check_call(self, runtime: Any, client_id: str | None, app_id: str, speaker: str | None = None) -> None:
        """Before a provider call that is no turn — speech-to-text, text-to-speech, embeddings —
        made for ``client_id`` (None: the admin, open mode) through the agent or flow ``app_id``:
        :class:`~magec.errors.BudgetExceededError` (402, the turn's message) when a turn of that
        client on that app would be refused, so a spent budget stops all of a client's provider
        spending. ``speaker``: the agent whose voice is used (a flow's spokesperson), checked too."""
        try:
            app = runtime.apps.get(app_id)
            agents = agents_of(app) if app is not None else [app_id]
            if speaker and speaker not in agents:
                agents.append(speaker)
            self.counters.check_spend(runtime.snapshot, client_id or "", agents, self.prices)
        except BudgetExceededError:
            raise
        except Exception:  # noqa: BLE001 - a bug in accounting must never stop a call
            log.exception("budget check failed; the call goes on")

    def _on_usage(self, row: dict[str, Any]) -> None:
        self.counters.add(row, self.usage.recorded)
        trace = _TRACE.get()
        if trace is not None:
            trace.usage_row(row)
