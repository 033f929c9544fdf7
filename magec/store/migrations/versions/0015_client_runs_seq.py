"""Cron runs are bounded (``client_runs.seq``, :mod:`magec.clients.cron`): each run row carries its
number among the client's runs, so only the latest ``keepRuns`` rows are kept while the Admin API's
``runs`` still counts every run, read from the newest row instead of counting them all.

Databases created from now on get the column with the table (``0003`` creates every table of
magec.clients.tables); this revision adds it to older ones and numbers each client's newest row
with the count of its runs so far (older rows keep 0: only the newest is read).

Revision ID: 0015_client_runs_seq
Revises: 0014_webhook_signatures
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_client_runs_seq"
down_revision = "0014_webhook_signatures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "seq" in {c["name"] for c in sa.inspect(bind).get_columns("client_runs")}:
        return
    op.add_column("client_runs", sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"))
    op.execute(
        "UPDATE client_runs SET seq = (SELECT count(*) FROM client_runs r WHERE r.client_id = client_runs.client_id) "
        "WHERE slot = (SELECT max(r.slot) FROM client_runs r WHERE r.client_id = client_runs.client_id)"
    )


def downgrade() -> None:
    op.drop_column("client_runs", "seq")
