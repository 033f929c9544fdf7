"""Owner keys and their client: what the per-client storage totals group by.

Conversations, memories and artifacts are stored under the owner key of their session: for a
client ``<percent-encoded clientId>:<userId>`` (:class:`magec.api.clients.Caller`), as sent in open
mode and for the admin. The percent-encoding keeps ``:`` out of the client part, so the first
``:`` always ends it and no asserted user id can forge another client's prefix.

Tables that count storage per client (``artifacts``, ``session_sessions``) keep that prefix in a
``client`` column (``""`` for an id without ``:``), indexed with the row's size, so a client's
total is one index range; long-term memories (``memory_entries``, pgvector's ``memory_vectors``)
keep it too, set by the column's default (:func:`owner_client`), and count per client
(:class:`ClientCount`). :func:`fill_clients` is the same rule in SQL, for rows stored before the
column existed (a migration) or restored from an older backup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine


def client_of(user_id: str) -> str:
    """The client part of an owner key (still percent-encoded); ``""`` for an id without one."""
    client, sep, _ = user_id.partition(":")
    return client if sep else ""


def client_id(user_id: str, clients: Mapping[str, Any]) -> str:
    """The id of the client an owner key belongs to, when that client exists (``clients``: the
    running configuration's, by id); ``""`` for open mode, the admin, or a prefix naming none."""
    prefix = client_of(user_id)
    cid = unquote(prefix) if prefix else ""
    return cid if cid in clients else ""


def fill_clients(table: sa.Table, dialect: str) -> sa.Update:
    """The statement setting ``table.client`` from ``table.user_id`` where it is still ``""``."""
    t = table.c
    colon = sa.func.strpos(t.user_id, ":") if dialect == "postgresql" else sa.func.instr(t.user_id, ":")
    return table.update().where(t.client == "", colon > 0).values(client=sa.func.substr(t.user_id, 1, colon - 1))


def owner_client(context: Any) -> str:
    """A ``client`` column's default: the client part of the row's ``user_id`` being inserted."""
    return client_of(str(context.get_current_parameters().get("user_id") or ""))


class ClientCount:
    """``count_client`` of a store over one ``table`` with a ``client`` column, on ``engine``."""

    engine: AsyncEngine
    table: sa.Table

    async def count_client(self, client: str) -> int:
        """Rows of every user of ``client`` (an owner key's client part) with every agent."""
        async with self.engine.connect() as conn:
            q = sa.select(sa.func.count()).select_from(self.table).where(self.table.c.client == client)
            return int((await conn.execute(q)).scalar_one())
