"""SQLAlchemy tables of the resource store (sessions and memories live in ``magec.memory``)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData()


def as_utc(moment: datetime) -> datetime:
    """A stored time with its UTC offset: SQLite's driver gives a ``DateTime(timezone=True)`` column
    back as the UTC wall time without one (PostgreSQL's comes aware)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


#: One row per resource. ``data`` is the raw camelCase JSON (sensitive fields encrypted).
resources = sa.Table(
    "resources",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

#: Single row (id=1): the config epoch, bumped by every committed mutation, and the settings JSON.
config_state = sa.Table(
    "config_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("settings", sa.Text, nullable=False),
)

#: Observed state of a backend (test results, probed capabilities, cached models). Writing it does
#: not bump the config epoch: it changes nothing the runtime builds from.
backend_status = sa.Table(
    "backend_status",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("health", sa.Text, nullable=False, server_default="{}"),
    sa.Column("capabilities", sa.Text, nullable=False, server_default="{}"),
    sa.Column("models", sa.Text, nullable=False, server_default="[]"),
    sa.Column("models_at", sa.DateTime(timezone=True), nullable=True),
)

#: Usage counters per agent and backend (tokens, audio seconds, characters).
usage = sa.Table(
    "usage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("agent_id", sa.String(64), nullable=False, index=True),
    sa.Column("backend_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # llm | stt | tts | embeddings
    sa.Column("model", sa.String(256), nullable=False, server_default=""),
    sa.Column("input_tokens", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("output_tokens", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("audio_seconds", sa.Float, nullable=False, server_default="0"),
    sa.Column("characters", sa.BigInteger, nullable=False, server_default="0"),
    # added by migration 0004_costs (magec.costs): who the turn was for, prompt tokens read from cache
    sa.Column("client_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("cached_tokens", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("ix_usage_at", "at"),
)
