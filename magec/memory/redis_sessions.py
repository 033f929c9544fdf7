"""``RedisSessionService``: ADK sessions in Redis (``redis.asyncio``), expiring after ``ttl_seconds``.

Contract: see :mod:`magec.memory.session_base`; every key a call touches gets its TTL refreshed.

Keys (``P`` = prefix, ``K`` = JSON ``[app, user, session]`` so ids may contain any character):

* ``P:s:K`` hash ``ct``/``ut``/``rev``; ``P:st:K`` hash of session state (key → JSON);
  ``P:ev:K`` list of event JSON; ``P:eid:K`` set of stored event ids (re-delivery check);
* ``P:app:["app"]`` / ``P:user:["app","user"]`` hashes of app / user state;
* ``P:idx:["app"]`` zset of ``["user","session"]`` and ``P:uidx:["app","user"]`` zset of session ids,
  scored by update time, for ``list_sessions`` (members whose session expired are pruned on read).

Create and append are single Lua scripts, so the stale check, the event push, the state writes
and the index updates are atomic and cost one round trip.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
import redis.exceptions
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.platform import uuid as platform_uuid
from google.adk.sessions.base_session_service import GetSessionConfig, ListSessionsResponse
from google.adk.sessions.session import Session

from magec._adk import StaleSessionError
from magec.errors import UnavailableError
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
    set_marker,
    split_state,
)
from magec.memory.session_listing import LISTED, STATE_LIMIT, SessionListing, assemble, chosen

# KEYS: meta state events eids app user idx uidx
# ARGV: ttl, time, idx_member, sid, n_session, n_app, n_user, then k/v pairs in that order
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'ct', ARGV[2], 'ut', ARGV[2], 'rev', 0)
local i = 8
local counts = {tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])}
local targets = {KEYS[2], KEYS[5], KEYS[6]}
for t = 1, 3 do
  for _ = 1, counts[t] do
    redis.call('HSET', targets[t], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
end
redis.call('ZADD', KEYS[7], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[8], ARGV[2], ARGV[4])
for k = 1, 8 do redis.call('EXPIRE', KEYS[k], ttl) end
return 1
"""

# KEYS: meta state events eids app user idx uidx
# ARGV: ttl, time, idx_member, sid, expected_rev, event_id, event_json, n_session, n_app, n_user, pairs
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local rev = redis.call('HGET', KEYS[1], 'rev')
if ARGV[5] ~= '' and rev ~= ARGV[5] then return -2 end
if redis.call('SADD', KEYS[4], ARGV[6]) == 0 then return -3 end
local ttl = tonumber(ARGV[1])
local newrev = redis.call('HINCRBY', KEYS[1], 'rev', 1)
redis.call('HSET', KEYS[1], 'ut', ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[7])
local i = 11
local counts = {tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])}
local targets = {KEYS[2], KEYS[5], KEYS[6]}
for t = 1, 3 do
  for _ = 1, counts[t] do
    redis.call('HSET', targets[t], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
end
redis.call('ZADD', KEYS[7], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[8], ARGV[2], ARGV[4])
for k = 1, 8 do redis.call('EXPIRE', KEYS[k], ttl) end
return newrev
"""


#: the bytes of a hash's values (the session listing reads sizes before values)
_SIZE = """
local total = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  total = total + redis.call('HSTRLEN', KEYS[1], field)
end
return total
"""


def _k(*parts: str) -> str:
    return json.dumps(list(parts), separators=(",", ":"), ensure_ascii=False)


def _fmt_time(t: float) -> str:
    return repr(float(t))  # repr round-trips a float exactly


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _reachable(method: Callable[_P, Coroutine[Any, Any, _R]]) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """Redis that cannot be reached is the session store being down, not a bug: the request is
    answered ``503 unavailable`` with ``Retry-After`` (send it again), not a 500 with a traceback."""

    @functools.wraps(method)
    async def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
            raise UnavailableError(
                f"the session store (Redis) cannot be reached: {type(e).__name__}; send it again") from e

    return call


class RedisSessionService(MagecSessionService):
    """ADK ``BaseSessionService`` on Redis; ``url`` like ``redis://[user:pass@]host[:6379][/db]``."""

    def __init__(self, url: str, ttl_seconds: int = 86400, prefix: str = "magec") -> None:
        super().__init__()
        self.url = url
        self.ttl = int(ttl_seconds)
        self.prefix = prefix
        self.client: aioredis.Redis = aioredis.from_url(url, decode_responses=True)
        self._create = self.client.register_script(_CREATE)
        self._append = self.client.register_script(_APPEND)
        self._size = self.client.register_script(_SIZE)

    async def close(self) -> None:
        await self.client.aclose()

    # -- keys ------------------------------------------------------------------------------
    def _keys(self, app: str, user: str, sid: str) -> list[str]:
        k, p = _k(app, user, sid), self.prefix
        return [
            f"{p}:s:{k}",
            f"{p}:st:{k}",
            f"{p}:ev:{k}",
            f"{p}:eid:{k}",
            f"{p}:app:{_k(app)}",
            f"{p}:user:{_k(app, user)}",
            f"{p}:idx:{_k(app)}",
            f"{p}:uidx:{_k(app, user)}",
        ]

    @staticmethod
    def _pairs(deltas: dict[str, dict[str, Any]]) -> tuple[list[int], list[str]]:
        counts, flat = [], []
        for part in ("session", "app", "user"):
            counts.append(len(deltas[part]))
            for key, value in deltas[part].items():
                flat += [key, dump_value(value)]
        return counts, flat

    @staticmethod
    def _hash(raw: dict[str, str]) -> dict[str, Any]:
        return {k: load_value(v) for k, v in raw.items()}

    # -- BaseSessionService ----------------------------------------------------------------
    @_reachable
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
        counts, flat = self._pairs(deltas)
        keys = self._keys(app_name, user_id, sid)
        t = now()
        args: list[str | int] = [self.ttl, _fmt_time(t), _k(user_id, sid), sid, *counts, *flat]
        if not await self._create(keys=keys, args=args):
            raise AlreadyExistsError(f"Session with id {sid} already exists.")
        app_raw, user_raw = await self._states(keys)
        session = Session(
            app_name=app_name,
            user_id=user_id,
            id=sid,
            state=merge_state(self._hash(app_raw), self._hash(user_raw), deltas["session"]),
        )
        set_marker(session, 0, t)
        return session

    async def _states(self, keys: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys[4])
            pipe.hgetall(keys[5])
            app_raw, user_raw = await pipe.execute()
        return app_raw, user_raw

    @_reachable
    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        sid = clean_id(session_id) or ""
        keys = self._keys(app_name, user_id, sid)
        n = config.num_recent_events if config else None
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys[0])
            pipe.hgetall(keys[1])
            if n == 0:
                pipe.echo("")
            else:
                pipe.lrange(keys[2], -n if n else 0, -1)
            pipe.hgetall(keys[4])
            pipe.hgetall(keys[5])
            for key in keys:
                pipe.expire(key, self.ttl)
            meta, state_raw, raw_events, app_raw, user_raw, *_ = await pipe.execute()
        if not meta:
            return None
        events = [load_event(e) for e in raw_events] if n != 0 else []
        if config and config.after_timestamp is not None:
            events = [e for e in events if e.timestamp >= config.after_timestamp]
        session = Session(
            app_name=app_name,
            user_id=user_id,
            id=sid,
            state=merge_state(self._hash(app_raw), self._hash(user_raw), self._hash(state_raw)),
            events=events,
        )
        set_marker(session, int(meta["rev"]), float(meta["ut"]))
        return session

    @_reachable
    async def list_sessions(self, *, app_name: str, user_id: str | None = None) -> ListSessionsResponse:
        p = self.prefix
        members: list[tuple[str, str, float]] = []
        if user_id is not None:
            index = f"{p}:uidx:{_k(app_name, user_id)}"
            for m, score in await self._zrange(index):
                members.append((user_id, m, score))
        else:
            index = f"{p}:idx:{_k(app_name)}"
            for m, score in await self._zrange(index):
                uid, sid = json.loads(m)
                members.append((str(uid), str(sid), float(score)))
        if not members:
            return ListSessionsResponse()
        users = sorted({uid for uid, _, _ in members})
        async with self.client.pipeline(transaction=False) as pipe:
            for uid, sid, _ in members:
                keys = self._keys(app_name, uid, sid)
                pipe.hgetall(keys[0])
                pipe.hgetall(keys[1])
            pipe.hgetall(f"{p}:app:{_k(app_name)}")
            for uid in users:
                pipe.hgetall(f"{p}:user:{_k(app_name, uid)}")
            results = await pipe.execute()
        app_state = self._hash(results[2 * len(members)])
        user_states = {
            uid: self._hash(r) for uid, r in zip(users, results[2 * len(members) + 1 :], strict=True)
        }
        sessions, expired = [], []
        for i, (uid, sid, _) in enumerate(members):
            meta, state_raw = results[2 * i], results[2 * i + 1]
            if not meta:  # expired: prune the index lazily
                expired.append((uid, sid))
                continue
            session = Session(
                app_name=app_name,
                user_id=uid,
                id=sid,
                state=merge_state(app_state, user_states.get(uid, {}), self._hash(state_raw)),
            )
            set_marker(session, int(meta["rev"]), float(meta["ut"]))
            sessions.append(session)
        if expired:
            async with self.client.pipeline(transaction=False) as pipe:
                for uid, sid in expired:
                    pipe.zrem(f"{p}:idx:{_k(app_name)}", _k(uid, sid))
                    pipe.zrem(f"{p}:uidx:{_k(app_name, uid)}", sid)
                await pipe.execute()
        sessions.sort(key=lambda s: (s.last_update_time, s.user_id, s.id))
        return ListSessionsResponse(sessions=sessions)

    @_reachable
    async def list_session_heads(self, *, app_name: str, user_id: str | None) -> SessionListing:
        """The listing with bounded state (:mod:`magec.memory.session_listing`): a state hash's
        size is summed by a script (``HSTRLEN``) and only the hashes listed are read."""
        p = self.prefix
        members = await self._members(app_name, user_id)
        if not members:
            return SessionListing()
        async with self.client.pipeline(transaction=False) as pipe:
            for uid, sid, _ in members:
                pipe.hgetall(self._keys(app_name, uid, sid)[0])
            metas = await pipe.execute()
        rows = sorted(((uid, sid, float(meta["ut"]), int(meta["rev"]))
                       for (uid, sid, _), meta in zip(members, metas, strict=True)
                       if meta), key=lambda r: (r[2], r[0], r[1]))  # an expired one: list_sessions prunes the index
        picked = chosen([r[:3] for r in rows]) if user_id is not None else set()
        hashes: list[tuple[str, str, str, str]] = [(APP, "", "", f"{p}:app:{_k(app_name)}")]
        if user_id is not None:
            hashes.append((USER, user_id, "", f"{p}:user:{_k(app_name, user_id)}"))
        hashes += [(SESSION, uid, sid, self._keys(app_name, uid, sid)[1]) for uid, sid in sorted(picked)]
        async with self.client.pipeline(transaction=False) as pipe:
            for *_, key in hashes:
                await self._size(keys=[key], client=pipe)
            sizes = [int(n) for n in await pipe.execute()]
        small = [h for h, n in zip(hashes, sizes, strict=True) if n <= STATE_LIMIT]
        async with self.client.pipeline(transaction=False) as pipe:
            for *_, key in small:
                pipe.hgetall(key)
            values = dict(zip([h[3] for h in small], await pipe.execute(), strict=True))
        state_rows: list[tuple[str, str, str, str, Any, int]] = []
        for (scope, uid, sid, key), size in zip(hashes, sizes, strict=True):
            if key not in values:
                state_rows.append((scope, uid, sid, "", None, size))
            else:
                state_rows += [(scope, uid, sid, k, v, size) for k, v in values[key].items()]
        return assemble(app_name, rows, state_rows, picked)

    async def _members(self, app_name: str, user_id: str | None) -> list[tuple[str, str, float]]:
        """(user, session, score) of the app's (or the user's) session index."""
        if user_id is not None:  # the LISTED most recently updated (scores are update times)
            index = f"{self.prefix}:uidx:{_k(app_name, user_id)}"
            return [(user_id, m, score) for m, score in await self._zrange(index, -LISTED)]
        out = []
        for m, score in await self._zrange(f"{self.prefix}:idx:{_k(app_name)}"):
            uid, sid = json.loads(m)
            out.append((str(uid), str(sid), float(score)))
        return out

    async def _zrange(self, key: str, start: int = 0) -> list[tuple[str, float]]:
        raw: Any = await self.client.zrange(key, start, -1, withscores=True)
        return [(str(m), float(score)) for m, score in raw]

    @_reachable
    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        sid = clean_id(session_id) or ""
        keys = self._keys(app_name, user_id, sid)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(*keys[:4])
            pipe.zrem(keys[6], _k(user_id, sid))
            pipe.zrem(keys[7], sid)
            await pipe.execute()

    @_reachable
    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        key = f"{self.prefix}:user:{_k(app_name, user_id)}"
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(key)
            pipe.expire(key, self.ttl)
            raw, _ = await pipe.execute()
        return self._hash(raw)

    @_reachable
    async def append_event(self, session: Session, event: Event) -> Event:
        if event.partial:
            return event
        event, deltas = self._prepare_event(session, event)
        counts, flat = self._pairs(deltas)
        keys = self._keys(session.app_name, session.user_id, session.id)
        async with self._session_lock(session):
            expected = marker_revision(session)
            if expected is None:
                expected = await self._markerless_revision(keys, session)
            args: list[str | int] = [
                self.ttl,
                _fmt_time(event.timestamp),
                _k(session.user_id, session.id),
                session.id,
                str(expected),
                event.id,
                dump_event(event),
                *counts,
                *flat,
            ]
            result = int(await self._append(keys=keys, args=args))
            if result == -1:
                raise SessionNotFoundError(f"Session {session.id} not found.")
            if result == -2:
                raise StaleSessionError(STALE_MESSAGE)
            if result == -3:
                return event  # already stored: a re-delivery
            set_marker(session, result, event.timestamp)
        return self._commit_event_to_session(session, event)

    async def _markerless_revision(self, keys: list[str], session: Session) -> int:
        """ADK's fallback for sessions built by hand: stale only if storage holds events it lacks."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys[0])
            pipe.lrange(keys[2], -1, -1)
            meta, last = await pipe.execute()
        if not meta:
            raise SessionNotFoundError(f"Session {session.id} not found.")
        if float(meta["ut"]) > session.last_update_time:
            last_id = load_event(last[0]).id if last else None
            mine = session.events[-1].id if session.events else None
            if last_id != mine:
                raise StaleSessionError(STALE_MESSAGE)
        return int(meta["rev"])
