"""Artifacts: versions of agents' files and the URL signing key (defined in magec.artifacts.tables).

Revision ID: 0004_artifacts
Revises: 0003
"""

from alembic import op

revision = "0004_artifacts"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.artifacts.tables import artifacts_metadata

    artifacts_metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    from magec.artifacts.tables import artifacts_metadata

    artifacts_metadata.drop_all(op.get_bind(), checkfirst=True)
