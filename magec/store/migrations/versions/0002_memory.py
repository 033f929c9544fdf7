"""Sessions and long-term memory tables (defined in magec.memory.tables).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.memory.tables import memory_metadata

    memory_metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    from magec.memory.tables import memory_metadata

    memory_metadata.drop_all(op.get_bind(), checkfirst=True)
