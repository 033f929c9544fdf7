"""Conversation audit: conversations and turns (defined in magec.audit.tables).

Revision ID: 0004_audit
Revises: 0003
"""

from alembic import op

revision = "0004_audit"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.audit.tables import audit_metadata

    audit_metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    from magec.audit.tables import audit_metadata

    audit_metadata.drop_all(op.get_bind(), checkfirst=True)
