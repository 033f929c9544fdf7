"""The ``skill_files`` table: the bytes of skills' reference files and packages.

One row per file: ``(skill_id, area, path)`` where ``area`` is ``ref`` (a reference file of an
inline skill, ``path`` = its file name) or ``pkg`` (a file of a ``SKILL.md`` package, ``path``
relative to the package root: ``SKILL.md``, ``references/…``, ``assets/…``, ``scripts/…``).
Contents are stored in the database rather than under ``dataDir`` so replicas sharing one
PostgreSQL database serve the same files; sizes are capped by :mod:`magec.skills.archive`.
Writing a file does not bump the config epoch by itself: the skill's resource row is rewritten
right after (its ``references`` / ``package`` summary), which does.
"""

from __future__ import annotations

import sqlalchemy as sa

skills_metadata = sa.MetaData()

skill_files = sa.Table(
    "skill_files",
    skills_metadata,
    sa.Column("skill_id", sa.String(64), primary_key=True),
    sa.Column("area", sa.String(8), primary_key=True),
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
