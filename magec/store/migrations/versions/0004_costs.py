"""Runs and costs: flow runs, the price table (defined in magec.costs.tables); ``usage`` gains the
client a row was for and its cached prompt tokens, and an index on ``at`` (cost reports and budget
counters read it by date range).

Revision ID: 0004_costs
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_costs"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.costs.tables import costs_metadata

    costs_metadata.create_all(op.get_bind(), checkfirst=True)
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("usage")}
    if "client_id" not in columns:
        op.add_column("usage", sa.Column("client_id", sa.String(64), nullable=False, server_default=""))
    if "cached_tokens" not in columns:
        op.add_column("usage", sa.Column("cached_tokens", sa.BigInteger, nullable=False, server_default="0"))
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("usage")}
    if "ix_usage_at" not in indexes:
        op.create_index("ix_usage_at", "usage", ["at"])


def downgrade() -> None:
    from magec.costs.tables import costs_metadata

    op.drop_index("ix_usage_at", "usage")
    op.drop_column("usage", "cached_tokens")
    op.drop_column("usage", "client_id")
    costs_metadata.drop_all(op.get_bind(), checkfirst=True)
