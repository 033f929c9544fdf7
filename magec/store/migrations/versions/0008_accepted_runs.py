"""Accepted webhook runs (``accepted_runs``, :mod:`magec.clients.accepted`): a ``202`` survives a crash.

Databases created from now on get the table with the other client tables (``0003`` creates every
table of magec.clients.tables); this revision adds it to older ones.

Revision ID: 0008_accepted_runs
Revises: 0007_session_totals
"""

from alembic import op

revision = "0008_accepted_runs"
down_revision = "0007_session_totals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.clients.tables import accepted_runs

    accepted_runs.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    from magec.clients.tables import accepted_runs

    accepted_runs.drop(op.get_bind(), checkfirst=True)
