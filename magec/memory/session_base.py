"""What our ADK session services share: the get-or-create helper, per-session locks, codecs.

Contract of every magec session service (``SqlSessionService``, ``RedisSessionService``), pinned by
one shared test suite and matching ADK's ``InMemorySessionService``/``DatabaseSessionService``:

* State keys ``app:*`` are shared by every session of the app, ``user:*`` by every session of the
  (app, user); ``temp:*`` live only on the in-memory ``Session`` object and are never stored.
* ``create_session`` with an existing id raises ADK's ``AlreadyExistsError``; ids are stripped.
* ``append_event`` ignores partial events, raises ``SessionNotFoundError`` for a missing session and
  ``StaleSessionError`` when the stored session moved on since the caller loaded it (the revision
  marker travels on ``Session._storage_update_marker``). Re-delivering an already stored event (same
  id) is a no-op. Appends on one session are serialised in-process, so parallel agents sharing one
  ``Session`` object never see each other as stale.
* Events come back in append order; ``num_recent_events`` keeps the last N, ``after_timestamp``
  keeps events with ``timestamp >= after``. ``list_sessions`` returns sessions without events, oldest
  update first, state merged.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events.event import Event
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.adk.sessions.session import Session
from google.adk.sessions.state import State

from magec._adk import extract_json_safe_state_delta, set_storage_marker, storage_marker

STALE_MESSAGE = (
    "The session has been modified in storage since it was loaded. "
    "Please reload the session before appending more events."
)

APP, USER, SESSION = "a", "u", "s"


class MagecSessionService(BaseSessionService):
    """Base of our session services: shared helpers on top of ADK's ``BaseSessionService``."""

    def __init__(self) -> None:
        # One lock per live session key; weak values drop a lock once no append holds it.
        self._locks: weakref.WeakValueDictionary[tuple[str, str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def get_or_create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        state: dict[str, Any] | None = None,
    ) -> Session:
        """Return the session, creating it (with ``state``) when absent; safe against a racing create.
        Its ``events`` are not loaded (callers need the session to exist; the runner reads it)."""
        session = await self.get_session(
            app_name=app_name, user_id=user_id, session_id=session_id, config=GetSessionConfig(num_recent_events=0)
        )
        if session is not None:
            return session
        try:
            return await self.create_session(
                app_name=app_name, user_id=user_id, state=state, session_id=session_id
            )
        except AlreadyExistsError:
            session = await self.get_session(app_name=app_name, user_id=user_id, session_id=session_id)
            if session is None:  # created and deleted in between: give up loudly
                raise
            return session

    @asynccontextmanager
    async def _session_lock(self, session: Session) -> AsyncIterator[None]:
        key = (session.app_name, session.user_id, session.id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:
            yield

    def _prepare_event(self, session: Session, event: Event) -> tuple[Event, dict[str, dict[str, Any]]]:
        """Apply ``temp:`` keys to the live session, strip them, and split the rest by scope (JSON-safe)."""
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        delta = event.actions.state_delta if event.actions and event.actions.state_delta else {}
        return event, extract_json_safe_state_delta(delta)


def split_state(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Split a state dict into JSON-safe ``app``/``user``/``session`` parts (``temp:`` dropped)."""
    return extract_json_safe_state_delta(state or {})


def merge_state(app: dict[str, Any], user: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    """The state a ``Session`` carries: session keys plus prefixed app and user keys."""
    merged = dict(session)
    merged.update({State.APP_PREFIX + k: v for k, v in app.items()})
    merged.update({State.USER_PREFIX + k: v for k, v in user.items()})
    return merged


def dump_event(event: Event) -> str:
    return event.model_dump_json(exclude_none=True)


def stored_bytes(data: str) -> int:
    """UTF-8 bytes of a stored JSON text (what the per-client totals count), without encoding it
    when it is ASCII (one fast scan)."""
    return len(data) if data.isascii() else len(data.encode())


#: what a session counts for before any event: its row, index entries and ids (the per-client
#: totals; so empty sessions are not free)
SESSION_ROW_BYTES = 256


def session_row_bytes(app: str, user: str, sid: str, state_values: list[str]) -> int:
    """What a new session counts for: :data:`SESSION_ROW_BYTES`, its ids and its initial state."""
    return SESSION_ROW_BYTES + sum(stored_bytes(v) for v in (app, user, sid, *state_values))


def load_event(data: str | bytes) -> Event:
    return Event.model_validate_json(data)


def dump_value(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def load_value(data: str | bytes) -> Any:
    return json.loads(data)


#: client-chosen session ids (body ``sessionId``, path, ``X-Session-Id``, artifacts) fit the id
#: columns (255 wide; PostgreSQL refuses anything longer with a database error)
MAX_SESSION_ID = 128


def clean_id(session_id: str | None) -> str | None:
    """ADK strips client-provided ids; an empty one means "generate"."""
    session_id = session_id.strip() if session_id else None
    return session_id or None


def marker_revision(session: Session) -> int | None:
    """The stored revision the session was loaded at, or ``None`` for marker-less sessions."""
    marker = storage_marker(session)
    if marker is None or not marker.startswith("rev:"):
        return None
    try:
        return int(marker[4:])
    except ValueError:
        return None


def set_marker(session: Session, revision: int, update_time: float) -> None:
    set_storage_marker(session, f"rev:{revision}")
    session.last_update_time = update_time


def now() -> float:
    return time.time()
