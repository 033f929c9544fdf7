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
* A client whose total is at or over the limit is refused with
  :class:`~magec.errors.PayloadTooLargeError` naming the limit (413 on the HTTP routes, an error
  event on the run API when a turn continues a session, the message to a bot), before anything
  runs or is stored, by :meth:`SessionQuota.check` where a session is opened (the SQL session
  service's ``quota``), by :func:`reserve` before events are appended outside a turn (an import,
  a state ``PATCH``, a stored ``/v1/responses`` history) and by :meth:`SessionQuota.admit` (the
  turn observers' asynchronous step, before any of them begins) for a turn that stores its
  session (not a stateless ``/v1`` call).
* **One session** (``limits.maxSessionBytes``, :meth:`SessionQuota.check_session`): a write that
  would grow one client session past it — a turn's new message (at admission), a state
  ``PATCH``, a seeded ``/v1/responses`` history — is refused the same way, naming that limit:
  every read, turn and PATCH materialises a session whole, so one session the per-client limit
  allows (5 GiB) could exhaust a process's memory. One primary-key read of the session's
  ``bytes``, not on every turn: after a read, this process's turns of that session are admitted
  from it plus what they added, for :data:`SESSION_TRUST` seconds and while that stays under half
  the limit (a refusal, and anything near the limit, rests on a fresh read). What can overrun it:
  the answers of admitted turns, and what other processes store, within those seconds.
* Cost: a client's total is read (one range of the ``(client, bytes)`` index) at most once per
  ``max_age`` seconds per process, plus whenever the cached total says "over": a refusal always
  rests on a fresh read, so room freed by deleting sessions, on any replica, counts at the very
  next turn. The new message (and state delta) of every turn this process admitted counts from
  its admission on: as *running* until the turn's first append stores it (the session service
  calls :meth:`SessionQuota.appended` in the turn's context), then as stored, so a burst of
  concurrent turns cannot slip past the limit together and a read never counts a message twice.
  A read keeps what was added while it ran. What can overrun the limit: the answers of the turns
  admitted before it was reached, and, with several processes, what the others admit within
  ``max_age``. Writes that follow an admitted turn (a stored ``/v1/responses`` object) or that
  make no room (forgetting one) are counted, never refused (:func:`count`).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.errors import PayloadTooLargeError
from magec.loop import off_loop
from magec.memory import owners
from magec.memory.session_base import SESSION_ROW_BYTES, dump_event, stored_bytes
from magec.memory.tables import session_events as ev
from magec.memory.tables import session_sessions as ss

LIMIT_NAME = "limits.maxSessionBytesPerClient"
SESSION_LIMIT_NAME = "limits.maxSessionBytes"
#: seconds a session's stored bytes, as read, admit its turns without another read (far from the
#: limit: a chat's turns are seconds apart, and a read per turn is a database round trip per turn)
SESSION_TRUST = 30.0
#: sessions whose stored bytes a process keeps (the least recently used go first)
SESSION_CACHE = 4096


def _octets(column: Any, dialect: str) -> Any:
    """UTF-8 bytes of a text column (SQLite's ``length()`` of a TEXT counts characters, of a BLOB bytes)."""
    if dialect == "postgresql":
        return sa.func.octet_length(column)
    return sa.func.length(sa.cast(column, sa.LargeBinary))


def recount(dialect: str) -> list[sa.Update]:
    """Statements filling ``client`` and recounting ``bytes`` of every session as the live path
    counts it (:func:`~magec.memory.session_base.session_row_bytes` plus its events), for a
    migration of an older database and a restore of an older backup."""

    def total(size: Any, table: sa.Table) -> Any:
        c = table.c
        of_session = sa.and_(c.app_name == ss.c.app_name, c.user_id == ss.c.user_id, c.session_id == ss.c.session_id)
        return sa.select(sa.func.coalesce(sa.func.sum(size), 0)).where(of_session).scalar_subquery()

    # state rows are not added: what later events wrote is in those events (as the live path counts
    # it); a session's initial state, which no event carries, is left out
    events = total(_octets(ev.c.data, dialect), ev)
    ids = sum((_octets(c, dialect) for c in (ss.c.app_name, ss.c.user_id, ss.c.session_id)), sa.literal(0))
    return [owners.fill_clients(ss, dialect), ss.update().values(bytes=SESSION_ROW_BYTES + ids + events)]


def message_bytes(message: Any) -> int:
    """About what a turn's new message will store: its texts and inline data (its state delta is
    counted by :meth:`SessionQuota.admit`)."""
    n = 0
    for part in getattr(message, "parts", None) or ():
        n += len(getattr(part, "text", None) or "")
        blob = getattr(part, "inline_data", None)
        n += len(getattr(blob, "data", None) or b"")
    return n


@dataclass
class _Total:
    #: the client's stored bytes as last read, plus what this process stored since
    stored: int = 0
    #: the new messages of this process's admitted turns not stored yet: a read cannot see them
    running: int = 0
    #: every byte ever added to :attr:`stored` (a read keeps what was added while it ran: its
    #: snapshot may predate those writes)
    added: int = 0
    read_at: float = -1e18
    reading: asyncio.Future[None] | None = field(default=None, repr=False)

    def used(self) -> int:
        return self.stored + self.running

    def add(self, nbytes: int) -> None:
        self.stored += nbytes
        self.added += nbytes


class _Running:
    """A turn's probe: its message counts as :attr:`_Total.running` until the turn stores it
    (:meth:`stored`, from the session service's append in the turn's context) or finishes; from
    then on a read of the total sees it, so it counts as stored, never twice."""

    def __init__(self, total: _Total, nbytes: int) -> None:
        self.total, self.nbytes = total, nbytes
        self.counted = self.done = False

    def start(self) -> None:
        self.total.running += self.nbytes
        _TURN.set(self)

    def stored(self, nbytes: int | None = None) -> None:
        """One of the turn's events was stored (``nbytes``: what it counts for; None: the turn
        ended). The first one is its message: no longer running; each counts as stored at its real
        size, so back-to-back turns between two reads of the total see what the earlier stored."""
        if self.done:  # a context the turn ran in, reused after it (a bot's next message): not ours
            return
        if not self.counted:
            self.counted = True
            self.total.running -= self.nbytes
            if nbytes is None:
                self.total.add(self.nbytes)
        if nbytes is not None:
            self.total.add(nbytes)

    def see(self, event: Any) -> None:
        pass

    def finish(self) -> None:
        self.stored()
        self.done = True


#: what :meth:`SessionQuota.admit` admitted, for the :meth:`SessionQuota.begin` that follows it
_ADMITTED: contextvars.ContextVar[_Running | None] = contextvars.ContextVar("magec_quota_admitted", default=None)
#: the turn running in this context (its first append stores its message)
_TURN: contextvars.ContextVar[_Running | None] = contextvars.ContextVar("magec_quota_turn", default=None)


class SessionQuota:
    def __init__(
        self, engine: AsyncEngine, limit: int, clients: Callable[[], Mapping[str, Any]], max_age: float = 2.0,
        session_limit: int = 0,
    ) -> None:
        self.engine = engine
        self.limit = limit
        #: ``limits.maxSessionBytes``: one client session's stored bytes (see :meth:`check_session`)
        self.session_limit = session_limit
        self.clients = clients  # the running configuration's clients, by id
        self.max_age = max_age
        self._totals: dict[str, _Total] = {}
        #: (app, owner, session) -> [stored bytes as read plus what was admitted since, read at]
        self._sessions: OrderedDict[tuple[str, str, str], list[float]] = OrderedDict()

    async def stored(self, client: str) -> int:
        """A client's stored session bytes, read now (``client``: the owner keys' prefix)."""
        q = sa.select(sa.func.coalesce(sa.func.sum(ss.c.bytes), 0)).where(ss.c.client == client)
        async with self.engine.connect() as conn:
            return int((await conn.execute(q)).scalar_one())

    async def _read(self, client: str, total: _Total) -> None:
        before = total.added
        try:
            stored = await self.stored(client)
            # what was added while the read ran may be missing from its snapshot: kept (at worst
            # counted twice until the next read, never lost)
            total.stored, total.read_at = stored + total.added - before, time.monotonic()
        finally:
            total.reading = None

    async def _fresh(self, client: str, total: _Total) -> None:
        # one read per client at a time: concurrent turns wait for the same one, and only the read
        # itself sets the total, so what each of them adds after it is kept
        if total.reading is None:
            total.reading = asyncio.ensure_future(self._read(client, total))
        await asyncio.shield(total.reading)

    async def _room(self, owner: str) -> _Total | None:
        """The total of ``owner``'s client once it is known to have room (None: no limit applies);
        raises :class:`~magec.errors.PayloadTooLargeError` when it has none."""
        if self.limit <= 0:
            return None
        clients = self.clients()
        cid = owners.client_id(owner, clients)
        if not cid:  # open mode, the admin, or a prefix that names no client
            return None
        client, prefix = clients[cid], owners.client_of(owner)
        total = self._totals.setdefault(prefix, _Total())
        if total.used() >= self.limit or time.monotonic() - total.read_at > self.max_age:
            await self._fresh(prefix, total)
        if total.used() >= self.limit:
            raise PayloadTooLargeError(
                f"client {client.name!r} stores {total.used()} bytes of conversations, over the limit "
                f"{LIMIT_NAME} = {self.limit}: delete some of its sessions to make room",
                limit=LIMIT_NAME,
            )
        return total

    async def check(self, owner: str, adding: int) -> None:
        """Refuse (:class:`~magec.errors.PayloadTooLargeError`) when the client of the session owner
        ``owner`` is at or over its limit; else count the ``adding`` bytes it stores now."""
        total = await self._room(owner)
        if total is not None:
            total.add(adding)

    async def check_session(self, app_name: str, owner: str, session_id: str, adding: int) -> None:
        """Refuse (:class:`~magec.errors.PayloadTooLargeError` naming ``limits.maxSessionBytes``)
        ``adding`` bytes to a client's session that would grow past the limit. Every read, turn
        and state PATCH of a session loads it whole, and the answer of a read or PATCH is all of
        it: 30 PATCHes of 2 MiB state took a server from 211 MB to 1.7 GB, and the per-client
        limit (5 GiB) let one client grow a session that no process could load. One primary-key
        read, or none while a recent one leaves room (see the contract); a session that does not
        exist yet has 0 bytes. Open mode and the admin are not
        limited (as for the per-client limit)."""
        if self.session_limit <= 0 or not owners.client_id(owner, self.clients()):
            return
        key, now = (app_name, owner, session_id), time.monotonic()
        known = self._sessions.get(key)
        if known is not None and now - known[1] <= SESSION_TRUST and known[0] + adding <= self.session_limit / 2:
            known[0] += adding
            self._sessions.move_to_end(key)
            return
        q = sa.select(ss.c.bytes).where(ss.c.app_name == app_name, ss.c.user_id == owner, ss.c.session_id == session_id)
        async with self.engine.connect() as conn:
            stored = int((await conn.execute(q)).scalar() or 0)
        if stored + adding > self.session_limit:
            self._sessions.pop(key, None)
            raise PayloadTooLargeError(
                f"this conversation stores {stored} bytes; adding {adding} would pass the limit "
                f"{SESSION_LIMIT_NAME} = {self.session_limit}: start a new session", limit=SESSION_LIMIT_NAME,
            )
        self._sessions[key] = [float(stored + adding), now]
        self._sessions.move_to_end(key)
        while len(self._sessions) > SESSION_CACHE:
            self._sessions.popitem(last=False)

    @staticmethod
    def appended(data: str) -> None:
        """An event was stored (``data``: its JSON; called by the SQL session service). In a turn
        it counts at once, its real size (the first one is the turn's message, which a read of the
        total sees from now on); outside one, :func:`reserve` or :func:`count` counted it."""
        probe = _TURN.get()
        if probe is not None:
            probe.stored(stored_bytes(data))

    def count(self, owner: str, adding: int) -> None:
        """Count ``adding`` bytes stored for ``owner``'s client without refusing them (a write that
        belongs to a turn already admitted, or that makes no room to refuse)."""
        prefix = owners.client_of(owner)
        total = self._totals.get(prefix) if self.limit > 0 and prefix else None
        if total is not None:
            total.add(adding)

    async def admit(
        self, runtime: Any, app: Any, owner: str, session_id: str, message: Any, *,  # noqa: ARG002
        stores: bool = True, state_delta: dict[str, Any] | None = None,
    ) -> None:
        """The turn observers' asynchronous step: refuse a turn that stores its session (not a
        stateless ``/v1`` call) of a client at or over its limit."""
        nbytes = message_bytes(message) + (len(json.dumps(state_delta, default=str)) if state_delta else 0)
        if stores and self.session_limit > 0:
            await self.check_session(app.id, owner, session_id, nbytes)
        total = await self._room(owner) if stores else None
        if total is None:
            _ADMITTED.set(None)
            return
        _ADMITTED.set(_Running(total, nbytes))

    def begin(self, runtime: Any, app: Any, owner: str, session_id: str, message: Any) -> _Running | None:  # noqa: ARG002
        """The probe of the turn :meth:`admit` just admitted: its message counts while it runs."""
        probe = _ADMITTED.get()
        if probe is None:
            return None
        _ADMITTED.set(None)
        probe.start()
        return probe


async def reserve(service: Any, owner: str, events: Sequence[Any], session: tuple[str, str] | None = None) -> None:
    """Before ``events`` are appended outside a turn (a session import, a state PATCH, a seeded
    history): refuse them when the client of ``owner`` is over its limit — or, with ``session``
    ``(app name, session id)`` of an existing session, when they would grow it past
    ``limits.maxSessionBytes`` — else count them. A session service without a quota (Redis,
    in-memory) takes them as they are."""
    quota = getattr(service, "quota", None)
    if quota is not None and events:
        # dumping an event is ~20 µs: a long import's (thousands) is measured in a worker thread
        nbytes = await off_loop(_events_bytes, events) if len(events) > 256 else _events_bytes(events)
        if session is not None:
            await quota.check_session(session[0], owner, session[1], nbytes)
        await quota.check(owner, nbytes)


def count(service: Any, owner: str, events: Sequence[Any]) -> None:
    """``events`` appended on behalf of a turn already admitted (what ``/v1/responses`` keeps
    after its answer): counted, never refused."""
    quota = getattr(service, "quota", None)
    if quota is not None and events:
        quota.count(owner, _events_bytes(events))


def _events_bytes(events: Sequence[Any]) -> int:
    """What ``events`` will count for once stored (as the session service's append counts them)."""
    return sum(stored_bytes(dump_event(e)) for e in events)
