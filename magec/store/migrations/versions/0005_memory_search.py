"""Memory search index: the SQLite FTS5 trigram index of ``memory_entries`` (see magec.memory.tables).

Databases created from now on get it with the table (a DDL event of ``memory_entries``); this
revision adds it to older SQLite databases and indexes the rows already there. PostgreSQL: nothing
(the plain-SQL store keeps ``LIKE``; the ``postgres`` memory provider has its own GIN index).

A merge revision: it joins the branches that started at 0003.

Revision ID: 0005_memory_search
Revises: 0004_artifacts, 0004_audit, 0004_costs, 0004_skills
"""

from alembic import op

revision = "0005_memory_search"
down_revision = ("0004_artifacts", "0004_audit", "0004_costs", "0004_skills")
branch_labels = None
depends_on = None


def upgrade() -> None:
    from magec.memory.tables import MEMORY_FTS_DDL, MEMORY_FTS_REBUILD

    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for ddl in MEMORY_FTS_DDL:
        op.execute(ddl)
    op.execute(MEMORY_FTS_REBUILD)


def downgrade() -> None:
    from magec.memory.tables import MEMORY_FTS_DROP

    if op.get_bind().dialect.name != "sqlite":
        return
    for ddl in MEMORY_FTS_DROP:
        op.execute(ddl)
