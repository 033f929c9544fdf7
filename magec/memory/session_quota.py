"""Stored conversations per client: ``limits.maxSessionBytesPerClient``, checked before each turn
and before a session is opened.

Why: a session need not exist before a turn opens it and a client names its users freely, so
nothing else bounds what one client token can make the database store; this does.

Contract:
* What counts: ``session_sessions.bytes`` of every session whose owner key belongs to the client
  (``client`` column, :mod:`magec.memory.owners`): a fixed 256 bytes per session plus its ids and
  initial state (so empty sessions are not free), and the UTF-8 bytes of its stored events, added
  by the append that stores each one (:mod:`magec.memory.sql_sessions`). Deleting a session gives
  its bytes back. Sessions kept by a Redis session provider are not in these tables: they
  are bounded by that provider's ``ttl`` instead. Open mode's ids and the admin's name no client.
* :meth:`SessionQuota.admit` (the turn observers' asynchronous step, before any of them begins):
  a turn that stores its session, of a client whose total is at or over the limit, is refused with
  :class:`~magec.errors.PayloadTooLargeError` naming the limit (413 on ``/v1``, an error event on
  the run API, the message to a bot) before anything runs or is stored.
* Cost: a client's total is read (one range of the ``(client, bytes)`` index) at most once per
  ``max_age`` seconds per process, plus whenever the cached total says "over": a refusal always
  rests on a fresh read, so room freed by deleting sessions, on any replica, counts at the very
  next turn. Between reads each admitted turn adds its new message's size to the cached total,
  so a burst cannot run far past the limit; it can be overrun by what the turns admitted within
  ``max_age`` store (their answers included), never by more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.errors import PayloadTooLargeError
from magec.memory import owners
from magec.memory.session_base import SESSION_ROW_BYTES
from magec.memory.tables import session_events as ev
from magec.memory.tables import session_sessions as ss

LIMIT_NAME = "limits.maxSessionBytesPerClient"


def recount(dialect: str) -> list[sa.Update]:
    """Statements filling ``client`` and recounting ``bytes`` of every session from its events (a
    migration of an older database, a restore of an older backup)."""
    if dialect == "postgresql":
        size = sa.func.octet_length(ev.c.data)
    else:  # SQLite: length() of a TEXT counts characters, of a BLOB bytes
        size = sa.func.length(sa.cast(ev.c.data, sa.LargeBinary))
    events = (
        sa.select(sa.func.coalesce(sa.func.sum(size), 0))
        .where(ev.c.app_name == ss.c.app_name, ev.c.user_id == ss.c.user_id, ev.c.session_id == ss.c.session_id)
        .scalar_subquery()
    )
    ids = sa.func.length(ss.c.app_name) + sa.func.length(ss.c.user_id) + sa.func.length(ss.c.session_id)
    return [owners.fill_clients(ss, dialect), ss.update().values(bytes=SESSION_ROW_BYTES + ids + events)]


def message_bytes(message: Any) -> int:
    """About what a turn's new message will store: its texts and inline data."""
    n = 0
    for part in getattr(message, "parts", None) or ():
        n += len(getattr(part, "text", None) or "")
        blob = getattr(part, "inline_data", None)
        n += len(getattr(blob, "data", None) or b"")
    return n


@dataclass
class _Total:
    stored: int = 0
    read_at: float = -1e18
    reading: asyncio.Task[int] | None = field(default=None, repr=False)


class SessionQuota:
    def __init__(
        self, engine: AsyncEngine, limit: int, clients: Callable[[], Mapping[str, Any]], max_age: float = 2.0
    ) -> None:
        self.engine = engine
        self.limit = limit
        self.clients = clients  # the running configuration's clients, by id
        self.max_age = max_age
        self._totals: dict[str, _Total] = {}

    async def stored(self, client: str) -> int:
        """A client's stored session bytes, read now (``client``: the owner keys' prefix)."""
        q = sa.select(sa.func.coalesce(sa.func.sum(ss.c.bytes), 0)).where(ss.c.client == client)
        async with self.engine.connect() as conn:
            return int((await conn.execute(q)).scalar_one())

    async def _fresh(self, client: str, total: _Total) -> None:
        if total.reading is None:  # one read per client at a time: concurrent turns share it
            total.reading = asyncio.ensure_future(self.stored(client))
        task = total.reading
        try:
            stored = await asyncio.shield(task)
        finally:
            if total.reading is task and task.done():
                total.reading = None
        total.stored, total.read_at = stored, time.monotonic()

    async def check(self, owner: str, adding: int) -> None:
        """Refuse (:class:`~magec.errors.PayloadTooLargeError`) when the client of the session owner
        ``owner`` is at or over its limit; else count ``adding`` bytes it is about to store."""
        if self.limit <= 0:
            return
        prefix = owners.client_of(owner)
        client = self.clients().get(unquote(prefix)) if prefix else None
        if client is None:  # open mode, the admin, or a prefix that names no client
            return
        total = self._totals.setdefault(prefix, _Total())
        if total.stored >= self.limit or time.monotonic() - total.read_at > self.max_age:
            await self._fresh(prefix, total)
        if total.stored >= self.limit:
            raise PayloadTooLargeError(
                f"client {client.name!r} stores {total.stored} bytes of conversations, over the limit "
                f"{LIMIT_NAME} = {self.limit}: delete some of its sessions to make room",
                limit=LIMIT_NAME,
            )
        total.stored += adding

    async def admit(
        self, runtime: Any, app: Any, owner: str, session_id: str, message: Any, *, stores: bool = True  # noqa: ARG002
    ) -> None:
        """The turn observers' asynchronous step: :meth:`check` a turn that stores its session (not
        a stateless ``/v1`` call)."""
        if stores:
            await self.check(owner, message_bytes(message))

    def begin(self, runtime: Any, app: Any, owner: str, session_id: str, message: Any) -> None:  # noqa: ARG002
        """Nothing to watch while the turn runs: what it stores is counted by the session service."""
        return None
