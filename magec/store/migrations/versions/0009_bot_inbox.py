"""The bots' inbox (``bot_inbox``, :mod:`magec.clients.inbox`): a message a bot received survives a crash.

Databases created from now on get the table with the other client tables (``0003`` creates every
table of magec.clients.tables); this revision adds it to older ones.

Revision ID: 0009_bot_inbox
Revises: 0008_accepted_runs
"""

from alembic import op

revision = "0009_bot_inbox"
down_revision = "0008_accepted_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.clients.tables import bot_inbox

    bot_inbox.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    from magec.clients.tables import bot_inbox

    bot_inbox.drop(op.get_bind(), checkfirst=True)
