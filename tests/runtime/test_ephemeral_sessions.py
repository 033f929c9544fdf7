"""The session service of stateless calls: seeded at creation, O(1) appends, ADK's append rules."""

from __future__ import annotations

import pytest
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import GetSessionConfig
from google.genai import types

from magec.agents.ephemeral_sessions import EphemeralSessionService


def _event(text: str, eid: str, ts: float, **kw: object) -> Event:
    return Event(id=eid, author="user", invocation_id="i", timestamp=ts,
                 content=types.Content(role="user", parts=[types.Part(text=text)]), **kw)  # type: ignore[arg-type]


async def test_seeded_at_creation_and_appends_keep_order() -> None:
    svc = EphemeralSessionService()
    seeded = [_event(f"m{i}", f"e{i}", float(i)) for i in range(3)]
    s = await svc.create_session(app_name="a", user_id="u", events=seeded)
    assert [e.id for e in s.events] == ["e0", "e1", "e2"] and s.last_update_time == 2.0
    with pytest.raises(AlreadyExistsError):
        await svc.create_session(app_name="a", user_id="u", session_id=s.id)
    live = await svc.get_session(app_name="a", user_id="u", session_id=s.id)
    assert live is s  # one request's session: no copy
    await svc.append_event(s, _event("m3", "e3", 3.0, actions=EventActions(state_delta={"k": 1, "temp:t": 2})))
    assert [e.id for e in s.events] == ["e0", "e1", "e2", "e3"] and s.state == {"k": 1, "temp:t": 2}
    assert s.events[-1].actions.state_delta == {"k": 1}  # temp keys never stored on the event
    # a re-delivered event (same id, equal) is a no-op
    await svc.append_event(s, s.events[-1])
    assert len(s.events) == 4
    # a different event that merely shares an id is kept (ADK's rule)
    await svc.append_event(s, _event("other", "e3", 4.0))
    assert len(s.events) == 5


async def test_filters_and_missing_sessions() -> None:
    svc = EphemeralSessionService()
    s = await svc.create_session(app_name="a", user_id="u", events=[_event(f"m{i}", f"e{i}", float(i)) for i in range(5)])
    recent = await svc.get_session(app_name="a", user_id="u", session_id=s.id,
                                   config=GetSessionConfig(num_recent_events=2))
    assert recent is not None and [e.id for e in recent.events] == ["e3", "e4"]
    after = await svc.get_session(app_name="a", user_id="u", session_id=s.id,
                                  config=GetSessionConfig(after_timestamp=3.0))
    assert after is not None and [e.id for e in after.events] == ["e3", "e4"]
    await svc.append_event(recent, _event("m5", "e5", 5.0))  # through a filtered copy: the store stays whole
    whole = await svc.get_session(app_name="a", user_id="u", session_id=s.id)
    assert whole is not None and [e.id for e in whole.events][-2:] == ["e4", "e5"] and len(whole.events) == 6
    assert [x.id for x in (await svc.list_sessions(app_name="a", user_id="u")).sessions] == [s.id]
    await svc.delete_session(app_name="a", user_id="u", session_id=s.id)
    assert await svc.get_session(app_name="a", user_id="u", session_id=s.id) is None
    with pytest.raises(SessionNotFoundError):
        await svc.append_event(s, _event("late", "e9", 9.0))
