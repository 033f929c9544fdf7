"""Running clients: conversation choices, worker leases, cron runs (defined in magec.clients.tables).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.clients.tables import clients_metadata

    clients_metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    from magec.clients.tables import clients_metadata

    clients_metadata.drop_all(op.get_bind(), checkfirst=True)
