"""The SQLite write operations of :class:`~magec.memory.sql_sessions.SqlSessionService`.

They run inside :class:`~magec.memory._sqlite_writer.SqliteWriter`'s thread on a plain ``sqlite3``
connection, each in its own SAVEPOINT, and mirror the SQLAlchemy path statement for statement
(same tables, same stale check: ``UPDATE … WHERE revision = :loaded RETURNING revision``). The
shared contract suite runs against both paths.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError

from magec._adk import StaleSessionError
from magec.memory.session_base import APP, SESSION, STALE_MESSAGE, USER, load_value

StateRow = tuple[str, str, str, str, str, str]  # app, scope, user, session, key, value JSON

_UPSERT_STATE = (
    "INSERT INTO session_state (app_name, scope, user_id, session_id, key, value) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (app_name, scope, user_id, session_id, key) DO UPDATE SET value = excluded.value"
)


def create_op(app: str, user: str, sid: str, t: float, rows: list[StateRow]) -> Callable[[sqlite3.Connection], Any]:
    """Insert the session and its initial state; returns ``(app_state, user_state)``."""

    def op(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        created = conn.execute(
            "INSERT INTO session_sessions (app_name, user_id, session_id, create_time, update_time, revision) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING RETURNING revision",
            (app, user, sid, t, t),
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
            "UPDATE session_sessions SET revision = revision + 1, update_time = ? "
            "WHERE app_name = ? AND user_id = ? AND session_id = ? AND revision = ? RETURNING revision",
            (ts, *key, revision),
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

