"""Skills: reference files and SKILL.md packages (defined in magec.skills.tables).

Revision ID: 0004_skills
Revises: 0003
"""

from alembic import op

revision = "0004_skills"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.skills.tables import skills_metadata

    skills_metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    from magec.skills.tables import skills_metadata

    skills_metadata.drop_all(op.get_bind(), checkfirst=True)
