"""The SQLite operations of :class:`~magec.memory.sql_sessions.SqlSessionService` on a file.

Writes run through :class:`~magec.memory._sqlite_write.SqliteWriter` on a plain ``sqlite3``
connection (on the event loop; :func:`delete_op` in a thread), each in its own SAVEPOINT; reads (:func:`read_op`, :func:`list_op`,
:func:`user_state_op`) inside :class:`~magec.memory._sqlite_writer.SqliteReader`'s, one hop per
read. They mirror the SQLAlchemy path statement for statement (same tables, same stale check:
``UPDATE … WHERE revision = :loaded RETURNING revision``; a read answers the same :class:`Stored`).
The shared contract suite runs against both paths.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, NamedTuple

from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError

from magec._adk import StaleSessionError
from magec.memory.owners import client_of
from magec.memory.session_base import APP, SESSION, STALE_MESSAGE, USER, load_value, stored_bytes

StateRow = tuple[str, str, str, str, str, str]  # app, scope, user, session, key, value JSON


class Want(NamedTuple):
    """What a session read fetches besides the row and its state.

    ``whole``: every event, given what the event cache holds for the session (``cached``: its
    revision, update time and last event id, or None); else the slice ``after`` / ``recent`` say
    (ADK's ``GetSessionConfig``)."""

    whole: bool
    cached: tuple[int, float, str | None] | None = None
    after: float | None = None
    recent: int | None = None

    def current(self, revision: int, update_time: float) -> bool:
        """The cache entry is the stored session: no event to read."""
        return self.whole and self.cached is not None and self.cached[:2] == (revision, update_time)

    def tail_from(self, revision: int) -> int | None:
        """The seq to read from when the stored session may continue the cache entry (its last
        event's seq, read again to check it), else None: read the session whole."""
        cached = self.cached
        return cached[0] if self.whole and cached is not None and cached[2] is not None and cached[0] < revision else None

    def continues(self, first_seq: int, first_id: str) -> bool:
        """The rows read from :meth:`tail_from` start with the cache entry's own last event (a
        delete + re-create moved it otherwise)."""
        return self.cached is not None and (first_seq, first_id) == (self.cached[0], self.cached[2])


class Stored(NamedTuple):
    """A stored session as read: its row, the event JSON read, and the state rows.

    ``continues``: None — the cache entry is current and nothing was read; True — ``events`` are the
    ones stored after the cache entry's last event; False — ``events`` are all the session's (or the
    slice ``Want`` asked for)."""

    revision: int
    update_time: float
    events: list[str]
    continues: bool | None
    state: list[tuple[str, str, str]]  # scope, key, value JSON


_KEY = "app_name = ? AND user_id = ? AND session_id = ?"
_STATE = (
    "SELECT scope, key, value FROM session_state WHERE app_name = ? "
    "AND (scope = ? OR (scope = ? AND user_id = ?) OR (scope = ? AND user_id = ? AND session_id = ?))"
)


def read_op(app: str, user: str, sid: str, want: Want) -> Callable[[sqlite3.Connection], Stored | None]:
    """The session's row, the events ``want`` asks for and its state; None when it does not exist."""

    def op(conn: sqlite3.Connection) -> Stored | None:
        key = (app, user, sid)
        row = conn.execute(f"SELECT revision, update_time FROM session_sessions WHERE {_KEY}", key).fetchone()
        if row is None:
            return None
        revision, update_time = int(row[0]), float(row[1])
        events, continues = _events(conn, key, revision, update_time, want)
        state = conn.execute(_STATE, (app, APP, USER, user, SESSION, user, sid)).fetchall()
        return Stored(revision, update_time, events, continues, state)

    return op


def _events(
    conn: sqlite3.Connection, key: tuple[str, str, str], revision: int, update_time: float, want: Want
) -> tuple[list[str], bool | None]:
    if want.whole:
        if want.current(revision, update_time):
            return [], None
        if (since := want.tail_from(revision)) is not None:
            rows = conn.execute(
                f"SELECT seq, event_id, data FROM session_events WHERE {_KEY} AND seq >= ? ORDER BY seq",
                (*key, since),
            ).fetchall()
            if rows and want.continues(int(rows[0][0]), rows[0][1]):
                return [r[2] for r in rows[1:]], True
        return [r[0] for r in conn.execute(f"SELECT data FROM session_events WHERE {_KEY} ORDER BY seq", key)], False
    if want.recent == 0:
        return [], False
    sql, params = f"SELECT data FROM session_events WHERE {_KEY}", list[Any](key)
    if want.after is not None:
        sql, params = sql + " AND timestamp >= ?", [*params, want.after]
    sql += " ORDER BY seq DESC"
    if want.recent is not None:
        sql, params = sql + " LIMIT ?", [*params, want.recent]
    events = [r[0] for r in conn.execute(sql, params)]
    events.reverse()
    return events, False


def list_op(app: str, user: str | None) -> Callable[[sqlite3.Connection], tuple[list[Any], list[Any]]]:
    """``list_sessions``' rows: ``(user, session, update_time, revision)`` oldest update first, and the
    state rows ``(scope, user, session, key, value)`` they need."""

    def op(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
        sql = "SELECT user_id, session_id, update_time, revision FROM session_sessions WHERE app_name = ?"
        state_sql = "SELECT scope, user_id, session_id, key, value FROM session_state WHERE app_name = ?"
        params: tuple[Any, ...] = (app,)
        state_params: tuple[Any, ...] = (app,)
        if user is not None:
            sql, params = sql + " AND user_id = ?", (app, user)
            state_sql, state_params = state_sql + " AND (scope = ? OR user_id = ?)", (app, APP, user)
        rows = conn.execute(sql + " ORDER BY update_time, user_id, session_id", params).fetchall()
        return rows, (conn.execute(state_sql, state_params).fetchall() if rows else [])

    return op


def heads_op(app: str, user: str | None, limit: int) -> Callable[[sqlite3.Connection], list[Any]]:
    """The listing's session rows ``(user, session, update_time, revision)``: with a user, the
    ``limit`` most recently updated, newest first; without one every session, oldest update first."""

    def op(conn: sqlite3.Connection) -> list[Any]:
        sql = "SELECT user_id, session_id, update_time, revision FROM session_sessions WHERE app_name = ?"
        if user is None:
            return conn.execute(sql + " ORDER BY update_time, user_id, session_id", (app,)).fetchall()
        sql += " AND user_id = ? ORDER BY update_time DESC, user_id DESC, session_id DESC LIMIT ?"
        return conn.execute(sql, (app, user, limit)).fetchall()

    return op


def sized_state_op(sql: str, params: dict[str, Any]) -> Callable[[sqlite3.Connection], list[Any]]:
    """The rows of :func:`magec.memory.session_listing.state_sql` (named parameters)."""

    def op(conn: sqlite3.Connection) -> list[Any]:
        return conn.execute(sql, params).fetchall()

    return op


def user_state_op(app: str, user: str) -> Callable[[sqlite3.Connection], list[tuple[str, str]]]:
    """The ``(key, value JSON)`` rows of one user's state."""

    def op(conn: sqlite3.Connection) -> list[tuple[str, str]]:
        return conn.execute(
            "SELECT key, value FROM session_state WHERE app_name = ? AND scope = ? AND user_id = ?", (app, USER, user)
        ).fetchall()

    return op

_UPSERT_STATE = (
    "INSERT INTO session_state (app_name, scope, user_id, session_id, key, value) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (app_name, scope, user_id, session_id, key) DO UPDATE SET value = excluded.value"
)


def create_op(
    app: str, user: str, sid: str, t: float, rows: list[StateRow], nbytes: int
) -> Callable[[sqlite3.Connection], Any]:
    """Insert the session (counted as ``nbytes``) and its initial state; returns ``(app_state, user_state)``."""

    def op(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        created = conn.execute(
            "INSERT INTO session_sessions (app_name, user_id, session_id, create_time, update_time, revision, client, bytes) "
            "VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT DO NOTHING RETURNING revision",
            (app, user, sid, t, t, client_of(user), nbytes),
        ).fetchone()
        if created is None:
            raise AlreadyExistsError(f"Session with id {sid} already exists.")
        if rows:
            conn.executemany(_UPSERT_STATE, rows)
        parts: dict[str, dict[str, Any]] = {APP: {}, USER: {}}
        for scope, key, value in conn.execute(
            "SELECT scope, key, value FROM session_state WHERE app_name = ? AND (scope = ? OR (scope = ? AND user_id = ?))",
            (app, APP, USER, user),
        ):
            parts[scope][key] = load_value(value)
        return parts[APP], parts[USER]

    return op


def append_op(
    app: str,
    user: str,
    sid: str,
    expected: int | None,
    markerless: tuple[float, str | None] | None,
    ts: float,
    event_id: str,
    data: str,
    rows: list[StateRow],
) -> Callable[[sqlite3.Connection], int]:
    """Bump the revision (stale check), insert the event, upsert state; returns the new revision.
    Raises :class:`DuplicateEvent` when the event was already stored (re-delivery)."""

    def op(conn: sqlite3.Connection) -> int:
        key = (app, user, sid)
        revision = expected
        if revision is None:
            assert markerless is not None
            revision = _markerless_revision(conn, key, *markerless)
        row = conn.execute(
            "UPDATE session_sessions SET revision = revision + 1, update_time = ?, bytes = bytes + ? "
            "WHERE app_name = ? AND user_id = ? AND session_id = ? AND revision = ? RETURNING revision",
            (ts, stored_bytes(data), *key, revision),
        ).fetchone()
        if row is None:
            if conn.execute("SELECT 1 FROM session_sessions WHERE app_name = ? AND user_id = ? AND session_id = ?", key).fetchone():
                raise StaleSessionError(STALE_MESSAGE)
            raise SessionNotFoundError(f"Session {sid} not found.")
        seq = int(row[0])
        inserted = conn.execute(
            "INSERT INTO session_events (app_name, user_id, session_id, seq, event_id, timestamp, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_name, user_id, session_id, event_id) DO NOTHING RETURNING seq",
            (*key, seq, event_id, ts, data),
        ).fetchone()
        if inserted is None:
            raise DuplicateEvent
        if rows:
            conn.executemany(_UPSERT_STATE, rows)
        return seq

    return op


class DuplicateEvent(Exception):
    """The event is already stored; the savepoint rolled the revision bump back."""


def _markerless_revision(conn: sqlite3.Connection, key: tuple[str, str, str], last_update_time: float, last_event: str | None) -> int:
    row = conn.execute(
        "SELECT revision, update_time FROM session_sessions WHERE app_name = ? AND user_id = ? AND session_id = ?", key
    ).fetchone()
    if row is None:
        raise SessionNotFoundError(f"Session {key[2]} not found.")
    if float(row[1]) > last_update_time:
        stored = conn.execute(
            "SELECT event_id FROM session_events WHERE app_name = ? AND user_id = ? AND session_id = ? ORDER BY seq DESC LIMIT 1",
            key,
        ).fetchone()
        if (stored[0] if stored else None) != last_event:
            raise StaleSessionError(STALE_MESSAGE)
    return int(row[0])


def delete_op(app: str, user: str, sid: str) -> Callable[[sqlite3.Connection], None]:
    def op(conn: sqlite3.Connection) -> None:
        key = (app, user, sid)
        conn.execute("DELETE FROM session_events WHERE app_name = ? AND user_id = ? AND session_id = ?", key)
        conn.execute(
            "DELETE FROM session_state WHERE app_name = ? AND scope = ? AND user_id = ? AND session_id = ?",
            (app, SESSION, user, sid),
        )
        conn.execute("DELETE FROM session_sessions WHERE app_name = ? AND user_id = ? AND session_id = ?", key)

    return op



def delete_idle_op(keys: list[tuple[str, str, str]], before: float) -> Callable[[sqlite3.Connection], list[tuple[str, str, str]]]:
    """Delete those of ``keys`` whose session is still idle since ``before`` (no event and not created
    after it: checked again under the write lock, so a turn that just touched one keeps it); the
    keys deleted."""

    def op(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
        gone = []
        for key in keys:
            row = conn.execute(
                "DELETE FROM session_sessions WHERE app_name = ? AND user_id = ? AND session_id = ? "
                "AND update_time < ? AND create_time < ? RETURNING 1",
                (*key, before, before),
            ).fetchone()
            if row is not None:
                delete_op(*key)(conn)
                gone.append(key)
        return gone

    return op
