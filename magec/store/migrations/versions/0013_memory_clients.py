"""Long-term memories per client: ``memory_entries.client`` and its index.

A client's users are stored as ``<client>:<user>`` owners, and each user's memories were capped
(``limits.maxMemoriesPerUser``), but not a client's: a client token naming new user ids grew the
memory store without bound. Counting a client's memories by an owner prefix scans every agent's
rows; the column makes it one index range (``limits.maxMemoriesPerClient``). Databases created
from now on get it with the table (``0002`` creates it from magec.memory.tables); this revision
adds it to older ones and fills it from each row's owner key (:func:`magec.memory.owners.fill_clients`):
a memory saved through a client before counts for that client, one saved in open mode or by the
admin (no ``:`` in its owner) for none.

Revision ID: 0013_memory_clients
Revises: 0012_audit_user_name
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_memory_clients"
down_revision = "0012_audit_user_name"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.memory.owners import fill_clients
    from magec.memory.tables import memory_entries

    bind = op.get_bind()
    if "client" not in {c["name"] for c in sa.inspect(bind).get_columns("memory_entries")}:
        op.add_column("memory_entries", sa.Column("client", sa.String(255), nullable=False, server_default=""))
        bind.execute(fill_clients(memory_entries, bind.dialect.name))
    op.execute("CREATE INDEX IF NOT EXISTS ix_memory_entries_client ON memory_entries (client)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_memory_entries_client")
    op.drop_column("memory_entries", "client")
