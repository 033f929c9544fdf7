"""Owner keys and their client: what the per-client storage totals group by.

Conversations, memories and artifacts are stored under the owner key of their session: for a
client ``<percent-encoded clientId>:<userId>`` (:class:`magec.api.clients.Caller`), as sent in open
mode and for the admin. The percent-encoding keeps ``:`` out of the client part, so the first
``:`` always ends it and no asserted user id can forge another client's prefix.

Tables that count storage per client (``artifacts``, ``session_sessions``) keep that prefix in a
``client`` column (``""`` for an id without ``:``), indexed with the row's size, so a client's
total is one index range. :func:`fill_clients` is the same rule in SQL, for rows stored before the
column existed (a migration) or restored from an older backup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa


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
