"""Wrong-credential failures in the database (``auth_failures``, :mod:`magec.api.lockout`): the
admin lockout counts an address's guesses across every process and replica, not per process.

Revision ID: 0011_auth_failures
Revises: 0010_a2a_tasks
"""

from alembic import op

revision = "0011_auth_failures"
down_revision = "0010_a2a_tasks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.api.lockout import auth_metadata

    auth_metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    from magec.api.lockout import auth_metadata

    auth_metadata.drop_all(op.get_bind(), checkfirst=True)
