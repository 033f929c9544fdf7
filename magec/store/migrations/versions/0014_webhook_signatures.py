"""Signed webhook calls seen (``webhook_signatures``, :mod:`magec.clients.replay`): a captured
signed call is refused when replayed inside its 5-minute window, on every process and replica.

Databases created from now on get the table with the other client tables (``0003`` creates every
table of magec.clients.tables); this revision adds it to older ones.

Revision ID: 0014_webhook_signatures
Revises: 0013_memory_clients
"""

from alembic import op

revision = "0014_webhook_signatures"
down_revision = "0013_memory_clients"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.clients.tables import webhook_signatures

    webhook_signatures.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    from magec.clients.tables import webhook_signatures

    webhook_signatures.drop(op.get_bind(), checkfirst=True)
