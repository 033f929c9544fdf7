"""The A2A tables (created by migration ``0010_a2a_tasks``).

* ``a2a_tasks`` — one row per A2A task, so ``tasks/get`` answers on every replica and after a
  restart (:mod:`magec.a2a.durable`). ``owner`` is a digest of the task's owner (app and client):
  the owner a2a-sdk scopes tasks by holds a NUL, which PostgreSQL's text refuses. The task itself
  (its messages: a user's words) is stored encrypted. ``process`` and ``expires_at`` are the lease
  of a running task's process: a task whose process died is answered ``failed``, not ``working``
  for ever.
"""

from __future__ import annotations

import sqlalchemy as sa

a2a_metadata = sa.MetaData()

a2a_tasks = sa.Table(
    "a2a_tasks",
    a2a_metadata,
    sa.Column("task_id", sa.String(255), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("state", sa.Integer, nullable=False),
    sa.Column("task", sa.Text, nullable=False),
    sa.Column("process", sa.String(80), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
