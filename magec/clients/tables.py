"""Tables of running clients: conversation choices, worker leases and cron runs.

None of these bump the config epoch: they are observed/running state, not configuration.

* ``client_conversations`` — per (client, conversation): the agent the conversation talks to
  (``/agent`` in a bot survives a restart) and the session generation (``/reset`` starts a new
  session by bumping it).
* ``client_leases`` — one row per leased job (``worker:<clientId>``): which replica runs it, until
  when. See :mod:`magec.clients.lease`.
* ``client_runs`` — one row per fired cron slot (``client_id``, ``slot``): the insert *is* the claim,
  so a slot fires once even when a lease moves between replicas mid-minute. ``seq`` numbers a
  client's runs (1, 2, …: the count of runs ever fired, kept on the newest row) so only the latest
  ``keepRuns`` rows need be kept (:mod:`magec.clients.cron`).
* ``client_cron_state`` — per cron client: the schedule in force and the moment up to which its
  slots were looked after (``checked_through``), the base of the missed-runs policy after downtime.
* ``accepted_runs`` — one row per webhook run answered ``202`` and not yet reported to its callback
  (callback URL encrypted), leased by the process running it. See :mod:`magec.clients.accepted`.
* ``bot_inbox`` — one row per chat message a bot received (``client_id``, the platform's ``key``),
  written before the platform is told it arrived; the raw message is encrypted and dropped once
  answered (the key stays a day, to recognise a redelivery). See :mod:`magec.clients.inbox`.
* ``webhook_signatures`` — one row per signed webhook call accepted (``client_id``, its
  ``X-Magec-Signature``) until its timestamp leaves the signature window: the insert *is* the
  check, so a replay is refused on every process and replica. See :mod:`magec.clients.replay`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

clients_metadata = sa.MetaData()

client_conversations = sa.Table(
    "client_conversations",
    clients_metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("conversation", sa.String(255), primary_key=True),
    sa.Column("agent_id", sa.String(64), nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

client_leases = sa.Table(
    "client_leases",
    clients_metadata,
    sa.Column("name", sa.String(160), primary_key=True),
    sa.Column("owner", sa.String(80), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
)

client_runs = sa.Table(
    "client_runs",
    clients_metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("slot", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("owner", sa.String(80), nullable=False),
    sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("ok", sa.Boolean, nullable=True),
    sa.Column("result", sa.Text, nullable=False, server_default=""),
    sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"),
)

client_cron_state = sa.Table(
    "client_cron_state",
    clients_metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("schedule", sa.String(255), nullable=False),
    sa.Column("checked_through", sa.DateTime(timezone=True), nullable=False),
)

accepted_runs = sa.Table(
    "accepted_runs",
    clients_metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("callback", sa.Text, nullable=False),
    sa.Column("session", sa.String(255), nullable=False),
    sa.Column("owner", sa.String(80), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
)

bot_inbox = sa.Table(
    "bot_inbox",
    clients_metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("payload", sa.Text, nullable=False, server_default=""),
    sa.Column("started", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("replays", sa.Integer, nullable=False, server_default="0"),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)

webhook_signatures = sa.Table(
    "webhook_signatures",
    clients_metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("signature", sa.String(80), primary_key=True),
    sa.Column("expires_at", sa.Float, nullable=False),  # Unix seconds: the timestamp + the window
    sa.Index("ix_webhook_signatures_expires", "expires_at"),
)


async def forget_client(conn: AsyncConnection, kind: str, id: str) -> None:
    """A deleted client's cron runs, schedule state and its chats' agent choices go with it (a
    store delete hook, also run by a restore for every client it drops): they are its history
    alone — an ``@every 1s`` job's rows would otherwise stay forever — and a later client with the
    same id (a restored backup, an import) starts clean, never inheriting a run count or a chat's
    ``/agent`` choice and ``/reset`` generation."""
    if kind == "clients":
        await conn.execute(sa.delete(client_runs).where(client_runs.c.client_id == id))
        await conn.execute(sa.delete(client_cron_state).where(client_cron_state.c.client_id == id))
        await conn.execute(sa.delete(client_conversations).where(client_conversations.c.client_id == id))
