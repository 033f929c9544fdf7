"""A2A tasks in the database (``a2a_tasks``, :mod:`magec.a2a.durable`): ``tasks/get`` answers on
every replica and after a restart.

Revision ID: 0010_a2a_tasks
Revises: 0009_bot_inbox
"""

from alembic import op

revision = "0010_a2a_tasks"
down_revision = "0009_bot_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.a2a.tables import a2a_metadata

    a2a_metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    from magec.a2a.tables import a2a_metadata

    a2a_metadata.drop_all(op.get_bind(), checkfirst=True)
