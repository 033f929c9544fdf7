"""The session service of stateless calls: one request's conversation, in memory, linear in size.

A stateless ``/v1`` call carries its whole history; it lives in a session that exists for that one
request (:meth:`magec.agents.apps.App.ephemeral_runner`) and is deleted after it. ADK's
``InMemorySessionService`` is built for sessions that many requests share: every ``get_session``
deep-copies the session and every ``append_event`` scans the stored events for a re-delivered
duplicate, so seeding a history of *n* messages costs O(n²) (16k messages blocked the event loop
for 24 s). Here:

* :meth:`create_session` takes the seeded ``events`` at once (no per-message append);
* :meth:`get_session` returns the live session object (it belongs to one request, nobody else
  holds it, so there is nothing to protect with a copy); ``num_recent_events`` / ``after_timestamp``
  filter a copy, as in every other service;
* :meth:`append_event` is ADK's base append (temp state, state delta) — O(1); a re-delivered event
  (same object, or an equal copy with the same id) is a no-op, found through an id index.

State prefixes behave as in the other services *within* the session (``temp:`` never outlives the
invocation's object, ``app:``/``user:`` are plain keys of this one-request session: nothing is
shared with stored sessions, which is the point of a stateless call).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
    ListSessionsResponse,
)
from google.adk.sessions.session import Session


class EphemeralSessionService(BaseSessionService):
    """In-memory sessions of single requests (see the module docstring)."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str, str], Session] = {}
        self._ids: dict[tuple[str, str, str], dict[str, Event]] = {}

    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
        events: list[Event] | None = None,
    ) -> Session:
        sid = (session_id or "").strip() or uuid.uuid4().hex
        key = (app_name, user_id, sid)
        if key in self._sessions:
            raise AlreadyExistsError(f"Session with id {sid} already exists.")
        seeded = list(events or [])
        session = Session(
            id=sid,
            app_name=app_name,
            user_id=user_id,
            state=dict(state or {}),
            events=seeded,
            last_update_time=seeded[-1].timestamp if seeded else time.time(),
        )
        self._sessions[key] = session
        self._ids[key] = {e.id: e for e in seeded if e.id}
        return session

    async def get_session(
        self, *, app_name: str, user_id: str, session_id: str, config: GetSessionConfig | None = None
    ) -> Session | None:
        session = self._sessions.get((app_name, user_id, session_id))
        if session is None or config is None:
            return session
        events = session.events
        if config.after_timestamp is not None:
            events = [e for e in events if e.timestamp >= config.after_timestamp]
        if config.num_recent_events is not None:
            events = events[-config.num_recent_events :] if config.num_recent_events > 0 else []
        return session.model_copy(update={"events": events})

    async def list_sessions(self, *, app_name: str, user_id: str | None = None) -> ListSessionsResponse:
        found = [
            s.model_copy(update={"events": []})
            for (app, user, _), s in self._sessions.items()
            if app == app_name and (user_id is None or user == user_id)
        ]
        found.sort(key=lambda s: s.last_update_time)
        return ListSessionsResponse(sessions=found)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        key = (app_name, user_id, session_id)
        self._sessions.pop(key, None)
        self._ids.pop(key, None)

    async def append_event(self, session: Session, event: Event) -> Event:
        if event.partial:
            return event
        key = (session.app_name, session.user_id, session.id)
        stored = self._sessions.get(key)
        if stored is None:
            raise SessionNotFoundError(f"Session {session.id} not found.")
        ids = self._ids[key]
        seen = ids.get(event.id) if event.id else None
        if seen is not None and (seen is event or seen == event):
            return event  # a re-delivery (ADK's rule): neither a second entry nor a second delta
        event = await super().append_event(session=session, event=event)
        session.last_update_time = event.timestamp
        if stored is not session:  # a filtered copy from get_session(config=…): keep the store whole
            stored.events.append(event)
            stored.last_update_time = event.timestamp
        if event.id:
            ids[event.id] = event
        return event
