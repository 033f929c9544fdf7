"""A bounded session listing: what ``GET /apps/{app}/users/{user}/sessions`` loads.

ADK's listing carries every session's ``state``, and ``list_sessions`` loads it all: a user with 8
sessions of 15 MiB state got a 118 MB answer, held in memory at once. No client magec knows reads
``state`` from the listing (ADK's web UI shows ``id`` and ``lastUpdateTime``, Magec's voice UIs the
same and then read each session whole), so the listing keeps the shape and bounds what it loads:

* A session's state is listed when its merged state (its own keys plus the app's and the user's)
  is at most :data:`STATE_LIMIT` characters of stored JSON, and it is one of the
  :data:`STATE_SESSIONS` most recently updated sessions of the listing. Otherwise it is listed with
  ``state: {}`` and ``stateOmitted: true`` (read it with ``GET …/sessions/{id}``).
* The stores never load an omitted state: sizes are read first (SQL: ``LENGTH`` summed per scope
  in the query; Redis: ``HSTRLEN`` summed by a script), values only for the states listed. So a
  listing holds at most about ``(STATE_SESSIONS + 2) × STATE_LIMIT`` of state, whatever is stored.
* A user's listing holds the :data:`LISTED` most recently updated sessions (still oldest update
  first); older ones are not listed, and are read, continued and deleted by id as before. A session
  costs ~50 µs to list on the event loop and nothing but the per-client stored bytes bounds how many
  a client makes (256 bytes each: 20 million in the default 5 GiB): 4,000 took 0.21 s, so a user of
  100,000 sessions would hold every other request for 5 s per listing. The stores apply it in their query (SQL
  ``LIMIT``, Redis ``ZRANGE`` of the index's last entries). The admin's listing of a whole app
  (no user) is not cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.session import Session

from magec.memory.session_base import APP, SESSION, USER, load_value, merge_state, set_marker

#: characters of stored JSON a session's merged state may have to be listed with it
STATE_LIMIT = 64 * 1024
#: how many sessions (the most recently updated) are listed with their state
STATE_SESSIONS = 100
#: how many sessions (the most recently updated) one user's listing holds at all
LISTED = 1000


@dataclass
class SessionListing:
    """Sessions (oldest update first, no events) and the ids listed without their state."""

    sessions: list[Session] = field(default_factory=list)
    omitted: set[str] = field(default_factory=set)


def chosen(rows: Sequence[tuple[str, str, float]]) -> set[tuple[str, str]]:
    """The (user, session) pairs whose state may be listed: the newest :data:`STATE_SESSIONS`
    of ``rows`` (``(user, session, update time)``)."""
    newest = sorted(rows, key=lambda r: r[2], reverse=True)[:STATE_SESSIONS]
    return {(u, s) for u, s, _ in newest}


def state_sql(user_bound: bool, n_sessions: int) -> str:
    """The state rows of a listing with their scope's size: ``(scope, user, session, key, value,
    size)``, ``value`` NULL when its scope's state is over :data:`STATE_LIMIT` (never loaded).
    Parameters: ``:app``, ``:cap``, and with a user ``:user`` and ``:s0``… (the chosen sessions)."""
    if user_bound:
        ids = ", ".join(f":s{i}" for i in range(n_sessions)) or "NULL"
        where = (f"app_name = :app AND (scope = '{APP}' OR (user_id = :user AND "
                 f"(scope = '{USER}' OR (scope = '{SESSION}' AND session_id IN ({ids})))))")
    else:
        where = f"app_name = :app AND scope = '{APP}'"
    return (
        "SELECT scope, user_id, session_id, key, CASE WHEN size <= :cap THEN value END, size FROM ("
        "SELECT scope, user_id, session_id, key, value, "
        "SUM(LENGTH(value)) OVER (PARTITION BY scope, user_id, session_id) AS size "
        f"FROM session_state WHERE {where}) AS sized"
    )


def state_params(app: str, user: str | None, sessions: Iterable[str]) -> dict[str, Any]:
    params: dict[str, Any] = {"app": app, "cap": STATE_LIMIT}
    if user is not None:
        params["user"] = user
        params.update({f"s{i}": s for i, s in enumerate(sessions)})
    return params


@dataclass
class _Scope:
    size: int = 0
    values: dict[str, Any] = field(default_factory=dict)
    loaded: bool = True


def assemble(app: str, rows: Sequence[tuple[str, str, float, int]],
             state_rows: Iterable[Sequence[Any]], picked: set[tuple[str, str]]) -> SessionListing:
    """The listing from session rows ``(user, session, update time, revision)`` and state rows
    (:func:`state_sql`'s, or the Redis store's in that shape)."""
    scopes: dict[tuple[str, str, str], _Scope] = {}
    for scope, uid, sid, key, value, size in state_rows:
        found = scopes.setdefault((scope, uid if scope != APP else "", sid if scope == SESSION else ""), _Scope())
        found.size = int(size or 0)
        if value is None:
            found.loaded = False
        else:
            found.values[key] = load_value(value)
    none = _Scope()
    app_scope = scopes.get((APP, "", ""), none)
    out = SessionListing()
    for uid, sid, update_time, revision in rows:
        parts = (app_scope, scopes.get((USER, uid, ""), none), scopes.get((SESSION, uid, sid), none))
        listed = (uid, sid) in picked
        fits = listed and all(p.loaded for p in parts) and sum(p.size for p in parts) <= STATE_LIMIT
        state = merge_state(*(p.values for p in parts)) if fits else {}
        session = Session(app_name=app, user_id=uid, id=sid, state=state)
        set_marker(session, int(revision), float(update_time))
        out.sessions.append(session)
        if not fits and (not listed or any(p.size for p in parts)):  # a session not picked: not read
            out.omitted.add(sid)
    return out


async def session_heads(service: BaseSessionService, app: str, user: str | None) -> SessionListing:
    """The bounded listing of ``service`` (magec's stores read it bounded); another service (the
    in-memory one of ephemeral agents, which holds its sessions anyway) is listed with the same
    rule applied to what it returns."""
    heads = getattr(service, "list_session_heads", None)
    if heads is not None:
        listing: SessionListing = await heads(app_name=app, user_id=user)
        return listing
    found = (await service.list_sessions(app_name=app, user_id=user)).sessions
    if user is not None and len(found) > LISTED:
        found = sorted(found, key=lambda s: s.last_update_time)[-LISTED:]
    picked = chosen([(s.user_id, s.id, s.last_update_time) for s in found]) if user is not None else set()
    out = SessionListing()
    for s in found:
        fits = (s.user_id, s.id) in picked and len(json.dumps(s.state, default=str)) <= STATE_LIMIT
        out.sessions.append(s if fits else s.model_copy(update={"state": {}}))
        if not fits and (s.state or (s.user_id, s.id) not in picked):
            out.omitted.add(s.id)
    return out
