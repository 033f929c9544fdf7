"""Artifact totals per user and per client: the ``client`` column and the indexes they are summed over.

Databases created from now on get both with the table (``0004_artifacts`` creates it from
magec.artifacts.tables); this revision adds them to older ones, fills ``client`` in and recounts
``size`` as the quotas count it now (it was the data's length).

Revision ID: 0006_artifact_totals
Revises: 0005_memory_search
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_artifact_totals"
down_revision = "0005_memory_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.artifacts.tables import recount

    bind = op.get_bind()
    if "client" not in {c["name"] for c in sa.inspect(bind).get_columns("artifacts")}:
        op.add_column("artifacts", sa.Column("client", sa.String(255), nullable=False, server_default=""))
        for statement in recount(bind.dialect.name):
            bind.execute(statement)
    op.execute("CREATE INDEX IF NOT EXISTS ix_artifacts_user_size ON artifacts (user_id, size)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_artifacts_client_size ON artifacts (client, size)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_artifacts_client_size")
    op.execute("DROP INDEX IF EXISTS ix_artifacts_user_size")
    op.drop_column("artifacts", "client")
