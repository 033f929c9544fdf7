"""Tables of :mod:`magec.costs` (migration ``0004_costs``). None of them bumps the config epoch.

* ``flow_runs`` — one row per flow run (tree or graph), written when the run ends: who ran it,
  status, the path taken and per-node activations (JSON text, Magec's ``/runs`` shape).
* ``cost_prices`` — one row (``id = 1``): the price table as JSON (currency and per-model prices);
  no row = the shipped defaults (:mod:`magec.costs.prices`).

Token counts themselves live in the store's ``usage`` table (``magec.store.tables.usage``), which
this migration extends with ``client_id`` and ``cached_tokens``.
"""

from __future__ import annotations

import sqlalchemy as sa

costs_metadata = sa.MetaData()

flow_runs = sa.Table(
    "flow_runs",
    costs_metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("app_id", sa.String(64), nullable=False, index=True),
    sa.Column("app_name", sa.String(512), nullable=False, server_default=""),
    sa.Column("session_id", sa.String(128), nullable=False, server_default=""),
    sa.Column("user_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("client_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("source", sa.String(32), nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("error_code", sa.String(64), nullable=False, server_default=""),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("input_tokens", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("output_tokens", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("path", sa.Text, nullable=False, server_default="[]"),
    sa.Column("activations", sa.Text, nullable=False, server_default="[]"),
)

cost_prices = sa.Table(
    "cost_prices",
    costs_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
