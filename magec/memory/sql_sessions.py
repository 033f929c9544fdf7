"""``SqlSessionService``: ADK sessions on SQLAlchemy async (SQLite with WAL, or PostgreSQL).

Contract: see :mod:`magec.memory.session_base`. Tables: :mod:`magec.memory.tables` (``session_*``);
they must exist (migrations, or :func:`magec.memory.tables.create_memory_tables`).

Why it is fast: an append is one transaction holding exactly

1. ``UPDATE session_sessions SET revision = revision + 1 … WHERE … AND revision = :loaded
   RETURNING revision`` — the stale-session check and the revision bump in one statement (a row
   lock on PostgreSQL, so two processes cannot both win);
2. ``INSERT`` of the event (``ON CONFLICT DO NOTHING`` on its id: a re-delivery is a no-op);
3. one upsert of the changed state keys (only when the event carries a state delta).

No session row, state blob or event list is read back and rewritten. On a SQLite *file*, writes
are group-committed on the event loop under a file lock shared by every process on the file
(:mod:`magec.memory._sqlite_write`; a session's delete in a thread) and reads go through a reader
thread (:mod:`magec.memory._sqlite_writer`, operations in :mod:`magec.memory.sqlite_session_ops`):
concurrent appends share one transaction without a thread hop, and a session read (row, new
events, state) is one hop instead of one per statement. PostgreSQL (and SQLite
without the threads: ``group_commit=False``, an in-memory database) goes through the engine.

Why a long session stays cheap: parsed events are kept between turns (:mod:`magec.memory.event_cache`);
a read checks the session row's revision and parses only events stored since (normally none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.platform import uuid as platform_uuid
from google.adk.sessions.base_session_service import GetSessionConfig, ListSessionsResponse
from google.adk.sessions.session import Session
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from magec._adk import StaleSessionError
from magec.memory import sqlite_session_ops as ops
from magec.memory._sql import insert_for, is_sqlite, upsert, write_tx
from magec.memory._sqlite_write import SqliteWriter
from magec.memory._sqlite_writer import SqliteReader
from magec.memory.event_cache import DEFAULT_MAX_BYTES, EventCache, Key, current_window
from magec.memory.owners import client_of
from magec.memory.session_base import (
    APP,
    SESSION,
    STALE_MESSAGE,
    USER,
    MagecSessionService,
    clean_id,
    dump_event,
    dump_value,
    load_event,
    load_value,
    marker_revision,
    merge_state,
    now,
    session_row_bytes,
    set_marker,
    split_state,
    stored_bytes,
)
from magec.memory.session_listing import LISTED, SessionListing, assemble, chosen, state_params, state_sql
from magec.memory.tables import session_events as ev
from magec.memory.tables import session_sessions as ss
from magec.memory.tables import session_state as st


class _Duplicate(Exception):
    """The event is already stored: roll the append back and report it as done."""


def _state_rows(app: str, user: str, sid: str, deltas: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for scope, part, uid, s in (
        (APP, "app", "", ""),
        (USER, "user", user, ""),
        (SESSION, "session", user, sid),
    ):
        for key, value in deltas[part].items():
            rows.append(
                {
                    "app_name": app,
                    "scope": scope,
                    "user_id": uid,
                    "session_id": s,
                    "key": key,
                    "value": dump_value(value),
                }
            )
    return rows


def _state_query(app: str, user: str, sid: str | None) -> sa.Select[Any]:
    """``(scope, key, value)`` of the app's, the user's and (``sid`` given) the session's state."""
    cond = sa.or_(st.c.scope == APP, sa.and_(st.c.scope == USER, st.c.user_id == user))
    if sid is not None:
        cond = sa.or_(cond, sa.and_(st.c.scope == SESSION, st.c.user_id == user, st.c.session_id == sid))
    return sa.select(st.c.scope, st.c.key, st.c.value).where(st.c.app_name == app, cond)


class SqlSessionService(MagecSessionService):
    """ADK ``BaseSessionService`` over an ``AsyncEngine`` (SQLite or PostgreSQL)."""

    def __init__(
        self, engine: AsyncEngine, *, group_commit: bool = True, cache_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        super().__init__()
        self.engine = engine
        #: checked before a session is created and told of each append
        #: (:class:`magec.memory.session_quota.SessionQuota`, set where the service is opened: a
        #: client over its stored-conversation limit opens none)
        self.quota: Any = None
        self._writer: SqliteWriter | None = None
        self._reader: SqliteReader | None = None
        self.events = EventCache(max_bytes=cache_bytes)
        path = engine.url.database
        if group_commit and is_sqlite(engine) and path and path != ":memory:" and not path.startswith("file:"):
            self._writer = SqliteWriter(path)
            self._reader = SqliteReader(path)

    async def close(self) -> None:
        """Stop the SQLite threads (the engine belongs to the caller)."""
        if self._writer is not None:
            self._writer.close()
        if self._reader is not None:
            self._reader.close()

    @staticmethod
    def _tuples(rows: list[dict[str, Any]]) -> list[ops.StateRow]:
        return [(r["app_name"], r["scope"], r["user_id"], r["session_id"], r["key"], r["value"]) for r in rows]

    # -- helpers ---------------------------------------------------------------------------
    async def _write_state(
        self, conn: AsyncConnection, app: str, user: str, sid: str, deltas: dict[str, dict[str, Any]]
    ) -> None:
        await upsert(
            conn,
            st,
            _state_rows(app, user, sid, deltas),
            keys=("app_name", "scope", "user_id", "session_id", "key"),
            update=("value",),
        )

    @staticmethod
    async def _read_state(
        conn: AsyncConnection, app: str, user: str, sid: str | None
    ) -> tuple[dict[str, Any], ...]:
        """``(app, user, session)`` state dicts; ``sid=None`` skips the session scope."""
        parts: dict[str, dict[str, Any]] = {APP: {}, USER: {}, SESSION: {}}
        for scope, key, value in await conn.execute(_state_query(app, user, sid)):
            parts[scope][key] = load_value(value)
        return parts[APP], parts[USER], parts[SESSION]

    # -- BaseSessionService ----------------------------------------------------------------
    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        sid = clean_id(session_id) or platform_uuid.new_uuid()
        deltas = split_state(state)
        t = now()
        rows = _state_rows(app_name, user_id, sid, deltas)
        nbytes = session_row_bytes(app_name, user_id, sid, [r["key"] + r["value"] for r in rows])
        if self.quota is not None:
            await self.quota.check(user_id, nbytes)
        if self._writer is not None:
            op = ops.create_op(app_name, user_id, sid, t, self._tuples(rows), nbytes)
            app_state, user_state = await self._writer.run(op)
        else:
            app_state, user_state = await self._create_sql(app_name, user_id, sid, t, deltas, nbytes)
        session = Session(
            app_name=app_name,
            user_id=user_id,
            id=sid,
            state=merge_state(app_state, user_state, deltas["session"]),
        )
        set_marker(session, 0, t)
        return session

    async def _create_sql(
        self, app_name: str, user_id: str, sid: str, t: float, deltas: dict[str, dict[str, Any]], nbytes: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        async with write_tx(self.engine) as conn:
            ins = (
                insert_for(conn, ss)
                .values(
                    app_name=app_name,
                    user_id=user_id,
                    session_id=sid,
                    create_time=t,
                    update_time=t,
                    revision=0,
                    client=client_of(user_id),
                    bytes=nbytes,
                )
                .on_conflict_do_nothing()
                .returning(ss.c.revision)
            )
            if (await conn.execute(ins)).first() is None:
                raise AlreadyExistsError(f"Session with id {sid} already exists.")
            await self._write_state(conn, app_name, user_id, sid, deltas)
            app_state, user_state, _ = await self._read_state(conn, app_name, user_id, None)
        return app_state, user_state

    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        sid = clean_id(session_id) or ""
        key = (app_name, user_id, sid)
        whole = config is None or (config.after_timestamp is None and config.num_recent_events is None)
        cached: list[Event] = []
        cached_bytes = 0
        if not whole:
            assert config is not None
            want = ops.Want(False, after=config.after_timestamp, recent=config.num_recent_events)
        elif (entry := self.events.get(key)) is not None:
            # a copy taken now: this process's appends extend the entry in place meanwhile
            cached, cached_bytes = list(entry.events), entry.nbytes
            want = ops.Want(True, (entry.revision, entry.update_time, cached[-1].id if cached else None))
        else:
            want = ops.Want(True)
        if self._reader is not None:
            stored = await self._reader.run(ops.read_op(*key, want))
        else:
            async with self.engine.connect() as conn:
                stored = await self._read_sql(conn, key, want)
        if stored is None:
            return None
        new = [load_event(d) for d in stored.events]
        self.events.loaded += len(new)
        if not whole:
            events = new
        else:
            if stored.continues is None:
                events = cached
            else:
                events = cached + new if stored.continues else new
                nbytes = sum(len(d) for d in stored.events) + (cached_bytes if stored.continues else 0)
                self.events.put(key, stored.revision, stored.update_time, events, nbytes)
        parts: dict[str, dict[str, Any]] = {APP: {}, USER: {}, SESSION: {}}
        for scope, k, value in stored.state:
            parts[scope][k] = load_value(value)
        state = merge_state(parts[APP], parts[USER], parts[SESSION])
        if whole:
            window = current_window()
            if window is not None:  # where it starts may depend on the state (the guard's marker)
                events = events[window(events, state):]
            self.events.served += len(events)
        session = Session(
            app_name=app_name,
            user_id=user_id,
            id=sid,
            state=state,
            events=events,
        )
        set_marker(session, stored.revision, stored.update_time)
        return session

    async def _read_sql(self, conn: AsyncConnection, key: Key, want: ops.Want) -> ops.Stored | None:
        """:func:`~magec.memory.sqlite_session_ops.read_op` through the engine (PostgreSQL, or SQLite
        without its threads)."""
        app_name, user_id, sid = key
        row = (
            await conn.execute(
                sa.select(ss.c.update_time, ss.c.revision).where(
                    ss.c.app_name == app_name, ss.c.user_id == user_id, ss.c.session_id == sid
                )
            )
        ).first()
        if row is None:
            return None
        revision, update_time = int(row.revision), float(row.update_time)
        where = (ev.c.app_name == app_name, ev.c.user_id == user_id, ev.c.session_id == sid)
        events: list[str] = []
        continues: bool | None = False
        if want.current(revision, update_time):
            continues = None
        elif want.whole:
            if (since := want.tail_from(revision)) is not None:
                rows = list(
                    await conn.execute(
                        sa.select(ev.c.seq, ev.c.event_id, ev.c.data)
                        .where(*where, ev.c.seq >= since)
                        .order_by(ev.c.seq)
                    )
                )
                if rows and want.continues(int(rows[0].seq), rows[0].event_id):
                    events, continues = [r.data for r in rows[1:]], True
            if continues is False:
                events = [d for (d,) in await conn.execute(sa.select(ev.c.data).where(*where).order_by(ev.c.seq))]
        elif want.recent != 0:
            q = sa.select(ev.c.data).where(*where)
            if want.after is not None:
                q = q.where(ev.c.timestamp >= want.after)
            q = q.order_by(ev.c.seq.desc())
            if want.recent is not None:
                q = q.limit(want.recent)
            events = [d for (d,) in await conn.execute(q)]
            events.reverse()
        state = [(scope, k, value) for scope, k, value in await conn.execute(_state_query(app_name, user_id, sid))]
        return ops.Stored(revision, update_time, events, continues, state)

    async def list_sessions(self, *, app_name: str, user_id: str | None = None) -> ListSessionsResponse:
        if self._reader is not None:
            rows: Sequence[Any]
            state_rows: Sequence[Any]
            rows, state_rows = await self._reader.run(ops.list_op(app_name, user_id))
        else:
            q = sa.select(ss.c.user_id, ss.c.session_id, ss.c.update_time, ss.c.revision).where(
                ss.c.app_name == app_name
            )
            sq = sa.select(st.c.scope, st.c.user_id, st.c.session_id, st.c.key, st.c.value).where(
                st.c.app_name == app_name
            )
            if user_id is not None:
                q = q.where(ss.c.user_id == user_id)
                sq = sq.where(sa.or_(st.c.scope == APP, st.c.user_id == user_id))
            q = q.order_by(ss.c.update_time, ss.c.user_id, ss.c.session_id)
            async with self.engine.connect() as conn:
                rows = (await conn.execute(q)).all()
                state_rows = (await conn.execute(sq)).all() if rows else []
        app_state: dict[str, Any] = {}
        user_states: dict[str, dict[str, Any]] = {}
        session_states: dict[tuple[str, str], dict[str, Any]] = {}
        for scope, uid, s, key, value in state_rows:
            if scope == APP:
                app_state[key] = load_value(value)
            elif scope == USER:
                user_states.setdefault(uid, {})[key] = load_value(value)
            else:
                session_states.setdefault((uid, s), {})[key] = load_value(value)
        sessions = []
        for uid, s, update_time, revision in rows:
            session = Session(
                app_name=app_name,
                user_id=uid,
                id=s,
                state=merge_state(app_state, user_states.get(uid, {}), session_states.get((uid, s), {})),
            )
            set_marker(session, int(revision), float(update_time))
            sessions.append(session)
        return ListSessionsResponse(sessions=sessions)

    async def list_session_heads(self, *, app_name: str, user_id: str | None) -> SessionListing:
        """The listing with bounded state (:mod:`magec.memory.session_listing`); without a user,
        no session's state (only the app's sizes are read)."""
        q = sa.select(ss.c.user_id, ss.c.session_id, ss.c.update_time, ss.c.revision).where(ss.c.app_name == app_name)
        if user_id is None:
            q = q.order_by(ss.c.update_time, ss.c.user_id, ss.c.session_id)
        else:  # the newest LISTED, turned oldest first below
            q = q.where(ss.c.user_id == user_id).limit(LISTED)
            q = q.order_by(ss.c.update_time.desc(), ss.c.user_id.desc(), ss.c.session_id.desc())
        found: Sequence[Any]
        state_rows: Sequence[Any]
        if self._reader is not None:
            found = await self._reader.run(ops.heads_op(app_name, user_id, LISTED))
        else:
            async with self.engine.connect() as conn:
                found = (await conn.execute(q)).all()
        rows = [(str(u), str(s), float(t), int(r)) for u, s, t, r in found]
        if user_id is not None:
            rows.reverse()
        if not rows:
            return SessionListing()
        picked = chosen([r[:3] for r in rows]) if user_id is not None else set()
        sql = state_sql(user_id is not None, len(picked))
        params = state_params(app_name, user_id, [s for _, s in picked])
        if self._reader is not None:
            state_rows = await self._reader.run(ops.sized_state_op(sql, params))
        else:
            async with self.engine.connect() as conn:
                state_rows = (await conn.execute(sa.text(sql), params)).all()
        return assemble(app_name, rows, state_rows, picked)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        sid = clean_id(session_id) or ""
        self.events.drop((app_name, user_id, sid))
        if self._writer is not None:
            await self._writer.run(ops.delete_op(app_name, user_id, sid), heavy=True)
            return
        async with write_tx(self.engine) as conn:
            await conn.execute(
                sa.delete(ev).where(
                    ev.c.app_name == app_name, ev.c.user_id == user_id, ev.c.session_id == sid
                )
            )
            await conn.execute(
                sa.delete(st).where(
                    st.c.app_name == app_name,
                    st.c.scope == SESSION,
                    st.c.user_id == user_id,
                    st.c.session_id == sid,
                )
            )
            await conn.execute(
                sa.delete(ss).where(
                    ss.c.app_name == app_name, ss.c.user_id == user_id, ss.c.session_id == sid
                )
            )

    async def delete_idle(self, keys: list[Key], before: float) -> list[Key]:
        """Delete those of ``keys`` whose session had no event and was not created since ``before``
        (re-checked in the write transaction); the keys deleted (session retention,
        :mod:`magec.memory.session_retention`)."""
        if not keys:
            return []
        if self._writer is not None:
            gone = await self._writer.run(ops.delete_idle_op(keys, before), heavy=True)
        else:
            gone = []
            async with write_tx(self.engine) as conn:
                for app, user, sid in keys:
                    where = (ss.c.app_name == app, ss.c.user_id == user, ss.c.session_id == sid)
                    idle = sa.delete(ss).where(*where, ss.c.update_time < before, ss.c.create_time < before)
                    if (await conn.execute(idle.returning(ss.c.revision))).first() is None:
                        continue
                    await conn.execute(
                        sa.delete(ev).where(ev.c.app_name == app, ev.c.user_id == user, ev.c.session_id == sid)
                    )
                    await conn.execute(
                        sa.delete(st).where(
                            st.c.app_name == app, st.c.scope == SESSION, st.c.user_id == user, st.c.session_id == sid
                        )
                    )
                    gone.append((app, user, sid))
        for key in gone:
            self.events.drop(key)
        return gone

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        if self._reader is not None:
            return {k: load_value(v) for k, v in await self._reader.run(ops.user_state_op(app_name, user_id))}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(st.c.key, st.c.value).where(
                    st.c.app_name == app_name, st.c.scope == USER, st.c.user_id == user_id
                )
            )
            return {k: load_value(v) for k, v in rows}

    async def append_event(self, session: Session, event: Event) -> Event:
        if event.partial:
            return event
        event, deltas = self._prepare_event(session, event)
        data = dump_event(event)
        app, user, sid = session.app_name, session.user_id, session.id
        key = (ss.c.app_name == app, ss.c.user_id == user, ss.c.session_id == sid)
        async with self._session_lock(session):
            if self._writer is not None:
                expected = marker_revision(session)
                markerless = None
                if expected is None:
                    markerless = (session.last_update_time, session.events[-1].id if session.events else None)
                op = ops.append_op(
                    app, user, sid, expected, markerless, event.timestamp, event.id, data,
                    self._tuples(_state_rows(app, user, sid, deltas)),
                )  # fmt: skip
                try:
                    seq = await self._writer.run(op, size=len(data))
                except ops.DuplicateEvent:
                    return event
                set_marker(session, seq, event.timestamp)
                self.events.appended((app, user, sid), seq - 1, seq, event.timestamp, event, len(data))
                if self.quota is not None:
                    self.quota.appended(data)
                return self._commit_event_to_session(session, event)
            try:
                async with write_tx(self.engine) as conn:
                    expected = marker_revision(session)
                    if expected is None:
                        expected = await self._markerless_revision(conn, session)
                    bump = (
                        sa.update(ss)
                        .where(*key, ss.c.revision == expected)
                        .values(revision=ss.c.revision + 1, update_time=event.timestamp,
                                bytes=ss.c.bytes + stored_bytes(data))
                        .returning(ss.c.revision)
                    )
                    row = (await conn.execute(bump)).first()
                    if row is None:
                        exists = (await conn.execute(sa.select(ss.c.revision).where(*key))).first()
                        if exists is None:
                            raise SessionNotFoundError(f"Session {sid} not found.")
                        raise StaleSessionError(STALE_MESSAGE)
                    seq = int(row.revision)
                    ins = (
                        insert_for(conn, ev)
                        .values(
                            app_name=app,
                            user_id=user,
                            session_id=sid,
                            seq=seq,
                            event_id=event.id,
                            timestamp=event.timestamp,
                            data=data,
                        )
                        .on_conflict_do_nothing(
                            index_elements=["app_name", "user_id", "session_id", "event_id"]
                        )
                        .returning(ev.c.seq)
                    )
                    if (await conn.execute(ins)).first() is None:
                        raise _Duplicate
                    await self._write_state(conn, app, user, sid, deltas)
            except _Duplicate:
                return event
            set_marker(session, seq, event.timestamp)
            self.events.appended((app, user, sid), seq - 1, seq, event.timestamp, event, len(data))
            if self.quota is not None:
                self.quota.appended(data)
        return self._commit_event_to_session(session, event)

    @staticmethod
    async def _markerless_revision(conn: AsyncConnection, session: Session) -> int:
        """ADK's fallback for sessions built by hand: stale only if storage holds events it lacks."""
        key = (
            ss.c.app_name == session.app_name,
            ss.c.user_id == session.user_id,
            ss.c.session_id == session.id,
        )
        row = (await conn.execute(sa.select(ss.c.revision, ss.c.update_time).where(*key))).first()
        if row is None:
            raise SessionNotFoundError(f"Session {session.id} not found.")
        if float(row.update_time) > session.last_update_time:
            last = (
                await conn.execute(
                    sa.select(ev.c.event_id)
                    .where(
                        ev.c.app_name == session.app_name,
                        ev.c.user_id == session.user_id,
                        ev.c.session_id == session.id,
                    )
                    .order_by(ev.c.seq.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            mine = session.events[-1].id if session.events else None
            if last != mine:
                raise StaleSessionError(STALE_MESSAGE)
        return int(row.revision)
