"""Stored conversations per client: ``session_sessions.client`` and ``.bytes`` and their index.

Databases created from now on get them with the table (``0002`` creates it from
magec.memory.tables); this revision adds them to older ones and fills them in from the stored
events (:func:`magec.memory.session_quota.recount`).

Revision ID: 0007_session_totals
Revises: 0006_artifact_totals
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_session_totals"
down_revision = "0006_artifact_totals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.memory.session_quota import recount

    bind = op.get_bind()
    columns = {c["name"] for c in sa.inspect(bind).get_columns("session_sessions")}
    if "client" not in columns:
        op.add_column("session_sessions", sa.Column("client", sa.String(255), nullable=False, server_default=""))
        op.add_column("session_sessions", sa.Column("bytes", sa.BigInteger, nullable=False, server_default="0"))
        for statement in recount(bind.dialect.name):
            bind.execute(statement)
    op.execute("CREATE INDEX IF NOT EXISTS ix_session_sessions_client_bytes ON session_sessions (client, bytes)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_session_sessions_client_bytes")
    op.drop_column("session_sessions", "bytes")
    op.drop_column("session_sessions", "client")
