"""The A2A tables (created by migration ``0010_a2a_tasks``).

* ``a2a_tasks`` — one row per A2A task, so ``tasks/get`` answers on every replica and after a
  restart (:mod:`magec.a2a.durable`). ``owner`` is a digest of the task's owner (app and client):
  the owner a2a-sdk scopes tasks by holds a NUL, which PostgreSQL's text refuses. The task itself
  (its messages: a user's words) is stored encrypted. ``process`` and ``expires_at`` are the lease
  of a running task's process: a task whose process died is answered ``failed``, not ``working``
  for ever.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from magec.store.tables import resources

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


def owner_digest(app: str, client_id: str) -> str:
    """The ``owner`` of the tasks of ``client_id`` with ``app``: the digest of
    :class:`magec.a2a.service._Owner`'s name (:func:`magec.a2a.durable._owner_key`)."""
    return hashlib.sha256(f"{app}\x00{client_id}".encode()).hexdigest()


async def forget_client_tasks(conn: AsyncConnection, kind: str, id: str) -> None:
    """A store delete hook (also run by a restore for every client it drops): a deleted client's
    task rows, with every agent and flow, go in the delete's transaction, so a client given its id
    again (a restored backup carries id and token) cannot read them (:mod:`magec.clients.purge`
    drops this process's in-memory copy). Here, not in ``durable``: no a2a-sdk import."""
    if kind != "clients":
        return
    apps = await conn.execute(sa.select(resources.c.id).where(resources.c.kind.in_(("agents", "flows"))))
    digests = [owner_digest(app, id) for (app,) in apps]
    for i in range(0, len(digests), 500):
        await conn.execute(sa.delete(a2a_tasks).where(a2a_tasks.c.owner.in_(digests[i:i + 500])))
