"""One contract, every session service: SQLite, PostgreSQL, Redis — and ADK's in-memory service as
the reference, so the contract itself is checked against ADK's behaviour."""

from __future__ import annotations

import asyncio
import time

import pytest
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions import InMemorySessionService
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.genai import types

from magec._adk import StaleSessionError
from magec.memory import MagecSessionService


def ev(text: str, author: str = "user", delta: dict | None = None, ts: float | None = None, **kw: object) -> Event:
    event = Event(
        author=author,
        invocation_id="inv-1",
        content=types.Content(role="user" if author == "user" else "model", parts=[types.Part(text=text)]),
        actions=EventActions(state_delta=dict(delta or {})),
        **kw,  # type: ignore[arg-type]
    )
    if ts is not None:
        event.timestamp = ts
    return event


def texts(session) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.content.parts[0].text for e in session.events]


def is_reference(svc: BaseSessionService) -> bool:
    return isinstance(svc, InMemorySessionService)


async def test_create_get_roundtrip_and_state_scopes(session_service: BaseSessionService) -> None:
    s = await session_service.create_session(
        app_name="app", user_id="u1", state={"k": 1, "app:a": "A", "user:u": [1, 2], "temp:t": "x"}
    )
    assert s.id and s.state == {"k": 1, "app:a": "A", "user:u": [1, 2]}
    got = await session_service.get_session(app_name="app", user_id="u1", session_id=s.id)
    assert got is not None and got.id == s.id and got.state == s.state and got.events == []
    # app state is shared by other users, user state only by the same user
    other = await session_service.create_session(app_name="app", user_id="u2")
    assert other.state == {"app:a": "A"}
    again = await session_service.create_session(app_name="app", user_id="u1", session_id="s2")
    assert again.state == {"app:a": "A", "user:u": [1, 2]}
    assert await session_service.get_session(app_name="other", user_id="u1", session_id=s.id) is None
    assert await session_service.get_session(app_name="app", user_id="u2", session_id=s.id) is None


async def test_create_existing_id_raises_and_ids_are_stripped(session_service: BaseSessionService) -> None:
    await session_service.create_session(app_name="app", user_id="u", session_id=" sid ")
    with pytest.raises(AlreadyExistsError):
        await session_service.create_session(app_name="app", user_id="u", session_id="sid")
    assert await session_service.get_session(app_name="app", user_id="u", session_id="sid") is not None
    # same id under another user is a different session
    await session_service.create_session(app_name="app", user_id="u-other", session_id="sid")


async def test_append_events_and_state_deltas(session_service: BaseSessionService) -> None:
    s = await session_service.create_session(app_name="app", user_id="u", session_id="s1")
    e1 = await session_service.append_event(s, ev("hello", delta={"count": 1, "app:theme": "dark", "temp:scratch": 9}))
    assert e1.actions.state_delta == {"count": 1, "app:theme": "dark"}  # temp trimmed from the event
    assert s.state["temp:scratch"] == 9  # but visible on the live session for this invocation
    await session_service.append_event(s, ev("hi there", author="agent", delta={"count": 2, "user:name": "Ann", "n": None}))
    assert texts(s) == ["hello", "hi there"]

    got = await session_service.get_session(app_name="app", user_id="u", session_id="s1")
    assert got is not None
    assert texts(got) == ["hello", "hi there"]
    assert got.events[0].id == e1.id and got.events[1].author == "agent"
    assert got.events[0].actions.state_delta == {"count": 1, "app:theme": "dark"}
    assert got.state == {"count": 2, "app:theme": "dark", "user:name": "Ann", "n": None}
    # scoped state reaches other sessions
    s2 = await session_service.create_session(app_name="app", user_id="u")
    assert s2.state == {"app:theme": "dark", "user:name": "Ann"}
    assert await session_service.get_user_state(app_name="app", user_id="u") == {"name": "Ann"}
    assert await session_service.get_user_state(app_name="app", user_id="nobody") == {}


async def test_partial_events_are_not_stored(session_service: BaseSessionService) -> None:
    s = await session_service.create_session(app_name="app", user_id="u")
    await session_service.append_event(s, ev("part", partial=True))
    got = await session_service.get_session(app_name="app", user_id="u", session_id=s.id)
    assert got is not None and got.events == []


async def test_event_content_roundtrip(session_service: BaseSessionService) -> None:
    s = await session_service.create_session(app_name="app", user_id="u")
    call = Event(
        author="agent",
        invocation_id="inv",
        content=types.Content(
            role="model",
            parts=[types.Part(function_call=types.FunctionCall(id="c1", name="search_memory", args={"query": "x"}))],
        ),
    )
    await session_service.append_event(s, call)
    got = await session_service.get_session(app_name="app", user_id="u", session_id=s.id)
    assert got is not None and got.events == [call]


async def test_get_session_config(session_service: BaseSessionService) -> None:
    s = await session_service.create_session(app_name="app", user_id="u")
    base = time.time()
    for i in range(5):
        await session_service.append_event(s, ev(f"m{i}", ts=base + i))
    get = session_service.get_session
    last2 = await get(app_name="app", user_id="u", session_id=s.id, config=GetSessionConfig(num_recent_events=2))
    assert last2 is not None and texts(last2) == ["m3", "m4"]
    none = await get(app_name="app", user_id="u", session_id=s.id, config=GetSessionConfig(num_recent_events=0))
    assert none is not None and none.events == []
    after = await get(app_name="app", user_id="u", session_id=s.id, config=GetSessionConfig(after_timestamp=base + 2))
    assert after is not None and texts(after) == ["m2", "m3", "m4"]
    both = await get(
        app_name="app", user_id="u", session_id=s.id, config=GetSessionConfig(num_recent_events=2, after_timestamp=base + 1)
    )
    assert both is not None and texts(both) == ["m3", "m4"]


async def test_list_sessions(session_service: BaseSessionService) -> None:
    a = await session_service.create_session(app_name="app", user_id="u1", session_id="a", state={"x": 1})
    b = await session_service.create_session(app_name="app", user_id="u2", session_id="b", state={"user:n": 2})
    await session_service.create_session(app_name="other", user_id="u1", session_id="c")
    await session_service.append_event(a, ev("later", ts=time.time() + 5))  # a becomes most recent
    listed = (await session_service.list_sessions(app_name="app")).sessions
    assert [s.id for s in listed] == ["b", "a"]
    assert all(s.events == [] for s in listed)
    assert listed[0].state == {"user:n": 2} and listed[1].state == {"x": 1}
    mine = (await session_service.list_sessions(app_name="app", user_id="u1")).sessions
    assert [s.id for s in mine] == ["a"]
    assert (await session_service.list_sessions(app_name="app", user_id="ghost")).sessions == []
    assert (await session_service.list_sessions(app_name="nope")).sessions == []
    del b


async def test_delete_session(session_service: BaseSessionService) -> None:
    s = await session_service.create_session(app_name="app", user_id="u", session_id="gone", state={"k": 1, "user:keep": 1})
    await session_service.append_event(s, ev("x"))
    keep = await session_service.create_session(app_name="app", user_id="u", session_id="kept")
    await session_service.delete_session(app_name="app", user_id="u", session_id="gone")
    assert await session_service.get_session(app_name="app", user_id="u", session_id="gone") is None
    assert [x.id for x in (await session_service.list_sessions(app_name="app")).sessions] == [keep.id]
    # a new session under the same id starts empty; user state survives (it is not session state)
    fresh = await session_service.create_session(app_name="app", user_id="u", session_id="gone")
    assert fresh.events == [] and fresh.state == {"user:keep": 1}
    await session_service.delete_session(app_name="app", user_id="u", session_id="never-existed")


async def test_append_to_missing_session_raises(session_service: BaseSessionService) -> None:
    s = await session_service.create_session(app_name="app", user_id="u")
    await session_service.delete_session(app_name="app", user_id="u", session_id=s.id)
    with pytest.raises(SessionNotFoundError):
        await session_service.append_event(s, ev("x"))


async def test_stale_session_is_rejected(session_service: BaseSessionService) -> None:
    if is_reference(session_service):
        pytest.skip("ADK's in-memory service has no stale-session detection")
    s = await session_service.create_session(app_name="app", user_id="u")
    s1 = await session_service.get_session(app_name="app", user_id="u", session_id=s.id)
    s2 = await session_service.get_session(app_name="app", user_id="u", session_id=s.id)
    assert s1 is not None and s2 is not None
    await session_service.append_event(s1, ev("first"))
    with pytest.raises(StaleSessionError):
        await session_service.append_event(s2, ev("second"))
    # the up-to-date copy keeps working, the stale one works after a reload
    await session_service.append_event(s1, ev("third"))
    s2 = await session_service.get_session(app_name="app", user_id="u", session_id=s.id)
    assert s2 is not None
    await session_service.append_event(s2, ev("fourth"))
    final = await session_service.get_session(app_name="app", user_id="u", session_id=s.id)
    assert final is not None and texts(final) == ["first", "third", "fourth"]


async def test_markerless_session_falls_back_to_event_check(session_service: BaseSessionService) -> None:
    """A hand-built Session (no revision marker) is accepted while it matches storage (ADK fallback)."""
    s = await session_service.create_session(app_name="app", user_id="u")
    await session_service.append_event(s, ev("one"))
    loaded = await session_service.get_session(app_name="app", user_id="u", session_id=s.id)
    assert loaded is not None
    manual = loaded.model_copy(deep=True)
    manual._storage_update_marker = None
    await session_service.append_event(manual, ev("two"))
    got = await session_service.get_session(app_name="app", user_id="u", session_id=s.id)
    assert got is not None and texts(got) == ["one", "two"]


async def test_redelivered_event_is_not_duplicated(session_service: BaseSessionService) -> None:
    s = await session_service.create_session(app_name="app", user_id="u")
    e = ev("once", delta={"n": 1})
    await session_service.append_event(s, e)
    await session_service.append_event(s, e.model_copy(deep=True))
    got = await session_service.get_session(app_name="app", user_id="u", session_id=s.id)
    assert got is not None and texts(got) == ["once"] and got.state == {"n": 1}
    await session_service.append_event(s, ev("next"))  # the session object is still usable


async def test_concurrent_appends_on_one_session_object(session_service: BaseSessionService) -> None:
    """Parallel agents share one Session object; their appends must serialise, not go stale."""
    s = await session_service.create_session(app_name="app", user_id="u")
    await asyncio.gather(*(session_service.append_event(s, ev(f"p{i}", delta={f"k{i}": i})) for i in range(20)))
    got = await session_service.get_session(app_name="app", user_id="u", session_id=s.id)
    assert got is not None and sorted(texts(got)) == sorted(f"p{i}" for i in range(20))
    assert got.state == {f"k{i}": i for i in range(20)}
    assert texts(got) == texts(s)  # storage order == the order the live session saw


async def test_many_concurrent_sessions(session_service: BaseSessionService) -> None:
    async def turn(i: int) -> None:
        s = await session_service.create_session(app_name="app", user_id=f"u{i % 5}")
        for j in range(3):
            s = await session_service.get_session(app_name="app", user_id=s.user_id, session_id=s.id)  # type: ignore[assignment]
            await session_service.append_event(s, ev(f"{i}-{j}", delta={"user:last": i}))

    await asyncio.gather(*(turn(i) for i in range(30)))
    listed = (await session_service.list_sessions(app_name="app")).sessions
    assert len(listed) == 30
    for s in listed:
        full = await session_service.get_session(app_name="app", user_id=s.user_id, session_id=s.id)
        assert full is not None and len(full.events) == 3


async def test_get_or_create_session(session_service: BaseSessionService) -> None:
    if not isinstance(session_service, MagecSessionService):
        pytest.skip("get_or_create_session is our helper")
    results = await asyncio.gather(
        *(session_service.get_or_create_session(app_name="app", user_id="u", session_id="same", state={"k": 1}) for _ in range(5))
    )
    assert {r.id for r in results} == {"same"}
    assert all(r.state == {"k": 1} for r in results)
    got = await session_service.get_or_create_session(app_name="app", user_id="u", session_id="same", state={"k": 2})
    assert got.state == {"k": 1}


async def test_unicode_and_separator_ids(session_service: BaseSessionService) -> None:
    s = await session_service.create_session(app_name="a:b", user_id="c", session_id="ñ/ü:1")
    await session_service.create_session(app_name="a", user_id="b:c", session_id="ñ/ü:1")
    await session_service.append_event(s, ev("x"))
    got = await session_service.get_session(app_name="a:b", user_id="c", session_id="ñ/ü:1")
    other = await session_service.get_session(app_name="a", user_id="b:c", session_id="ñ/ü:1")
    assert got is not None and texts(got) == ["x"]
    assert other is not None and other.events == []
