"""Conversation audit: a bot user's display name (``audit_conversations.user_name``).

A Telegram, Slack or Discord user's id is a number or a code nobody recognises; the bots know the
``@name``, and the Admin UI's Conversations and Memory pages now show it beside the id. Databases
created from now on get the column with the table (``0004_audit`` creates it from
magec.audit.tables); this revision adds it to older ones, empty (old rows show the id alone).

Revision ID: 0012_audit_user_name
Revises: 0011_auth_failures
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_audit_user_name"
down_revision = "0011_auth_failures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "user_name" not in {c["name"] for c in sa.inspect(bind).get_columns("audit_conversations")}:
        op.add_column("audit_conversations",
                      sa.Column("user_name", sa.String(255), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("audit_conversations", "user_name")
