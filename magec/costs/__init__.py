"""Runs and costs: flow runs (``/runs``), per-model prices, cost reports and budgets.

* :mod:`~magec.costs.tables` — ``flow_runs``, ``cost_prices`` (migration ``0004_costs``);
* :mod:`~magec.costs.writer` — the bounded, batched background writer (shareable);
* :mod:`~magec.costs.runs` — a flow run's trace (path, per-node timing) and the ``/runs`` queries;
* :mod:`~magec.costs.prices` — the price table (shipped defaults, stored edits, matching);
* :mod:`~magec.costs.report` — cost per agent / backend / client / model / day, CSV;
* :mod:`~magec.costs.budgets` — spend counters and the check before a turn;
* :mod:`~magec.costs.service` — the per-process service, a turn observer (wired by ``server.py``);
* :mod:`~magec.costs.observe` — several turn observers in the one slot (audit + costs).

See docs/costs.md.
"""
