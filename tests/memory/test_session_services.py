"""Service-specific behaviour: Redis TTLs, persistence across service objects, ADK Runner turns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from google.adk.agents import LlmAgent
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.adk.sessions.session import Session
from google.genai import types
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.memory import RedisSessionService, SqlSessionService, create_memory_tables
from magec.store.store import make_engine


class EchoLlm(BaseLlm):
    """Answers ``echo: <last user text>``; writes an output key through the agent."""

    model: str = "echo"

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        last = ""
        for content in llm_request.contents:
            if content.role == "user" and content.parts and content.parts[0].text:
                last = content.parts[0].text
        yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text=f"echo: {last}")]))


async def _ask(runner: Runner, user: str, sid: str, text: str) -> list[Event]:
    msg = types.Content(role="user", parts=[types.Part(text=text)])
    return [e async for e in runner.run_async(user_id=user, session_id=sid, new_message=msg)]


async def test_adk_runner_turns(session_service: BaseSessionService) -> None:
    agent = LlmAgent(name="echo_agent", model=EchoLlm(), instruction="Echo.", output_key="last_reply")
    runner = Runner(app_name="agent-1", agent=agent, session_service=session_service)
    await session_service.create_session(app_name="agent-1", user_id="u", session_id="s")
    out = await _ask(runner, "u", "s", "one")
    assert out[-1].content is not None and out[-1].content.parts[0].text == "echo: one"  # type: ignore[index]
    # concurrent turns on different sessions, then a follow-up on the first one
    await asyncio.gather(*(session_service.create_session(app_name="agent-1", user_id="u", session_id=f"c{i}") for i in range(5)))
    await asyncio.gather(*(_ask(runner, "u", f"c{i}", f"hi {i}") for i in range(5)))
    await _ask(runner, "u", "s", "two")
    got = await session_service.get_session(app_name="agent-1", user_id="u", session_id="s")
    assert got is not None
    assert [e.content.parts[0].text for e in got.events if e.content and e.content.parts] == [  # type: ignore[index]
        "one",
        "echo: one",
        "two",
        "echo: two",
    ]
    assert got.state["last_reply"] == "echo: two"


async def test_sql_sessions_survive_a_new_service(sql_engine: AsyncEngine) -> None:
    first = SqlSessionService(sql_engine)
    s = await first.create_session(app_name="a", user_id="u", state={"user:x": 1})
    await first.append_event(s, Event(author="user", invocation_id="i"))
    second = SqlSessionService(sql_engine)
    got = await second.get_session(app_name="a", user_id="u", session_id=s.id)
    assert got is not None and len(got.events) == 1 and got.state == {"user:x": 1}
    await second.append_event(got, Event(author="agent", invocation_id="i"))
    await first.close()
    await second.close()


@pytest.mark.parametrize("threads", [True, False], ids=["sqlite-threads", "engine"])
async def test_cached_sessions_follow_another_replica(sql_engine: AsyncEngine, threads: bool) -> None:
    """Two services on one database (two replicas): each one's cached events follow the other's
    appends (only the new events are parsed), a delete + re-create under a cache is read afresh,
    and slices (ADK's ``GetSessionConfig``) read the store, not the cache."""

    def said(session: Session | None) -> list[str]:
        assert session is not None
        return [e.invocation_id for e in session.events]

    mine = SqlSessionService(sql_engine, group_commit=threads)
    other = SqlSessionService(sql_engine, group_commit=threads)
    s = await mine.create_session(app_name="a", user_id="u", session_id="s")
    for i in range(3):
        await mine.append_event(s, Event(author="user", invocation_id=f"m{i}", timestamp=100.0 + i))
    assert said(await mine.get_session(app_name="a", user_id="u", session_id="s")) == ["m0", "m1", "m2"]
    loaded = mine.events.loaded

    theirs = await other.get_session(app_name="a", user_id="u", session_id="s")
    assert theirs is not None
    await other.append_event(theirs, Event(author="agent", invocation_id="o3", timestamp=103.0,
                                           actions=EventActions(state_delta={"k": "v", "user:n": 1})))  # fmt: skip
    got = await mine.get_session(app_name="a", user_id="u", session_id="s")
    assert said(got) == ["m0", "m1", "m2", "o3"] and got is not None and got.state == {"k": "v", "user:n": 1}
    assert mine.events.loaded == loaded + 1  # only the other replica's event was parsed
    assert await mine.get_user_state(app_name="a", user_id="u") == {"n": 1}
    await mine.append_event(got, Event(author="user", invocation_id="m4", timestamp=104.0))  # not stale

    recent = await mine.get_session(app_name="a", user_id="u", session_id="s", config=GetSessionConfig(num_recent_events=2))
    assert said(recent) == ["o3", "m4"]
    after = await mine.get_session(app_name="a", user_id="u", session_id="s", config=GetSessionConfig(after_timestamp=102.5))
    assert said(after) == ["o3", "m4"]
    head = await mine.get_session(app_name="a", user_id="u", session_id="s", config=GetSessionConfig(num_recent_events=0))
    assert said(head) == [] and head is not None and head.state["k"] == "v"

    await other.delete_session(app_name="a", user_id="u", session_id="s")
    assert await mine.get_session(app_name="a", user_id="u", session_id="s") is None
    again = await other.create_session(app_name="a", user_id="u", session_id="s")
    await other.append_event(again, Event(author="user", invocation_id="new", timestamp=200.0))
    assert said(await mine.get_session(app_name="a", user_id="u", session_id="s")) == ["new"]
    listed = await mine.list_sessions(app_name="a", user_id="u")
    assert [x.id for x in listed.sessions] == ["s"] and listed.sessions[0].state == {"user:n": 1}
    await mine.close()
    await other.close()


async def test_redis_ttl_is_set_and_refreshed(redis_url: str) -> None:
    svc = RedisSessionService(redis_url, ttl_seconds=100, prefix="ttltest")
    try:
        s = await svc.create_session(app_name="a", user_id="u", state={"k": 1, "user:x": 1})
        keys = svc._keys("a", "u", s.id)
        ttls = [await svc.client.ttl(k) for k in (keys[0], keys[1], keys[5], keys[6])]
        assert all(90 < t <= 100 for t in ttls), ttls
        for k in keys[:2]:
            await svc.client.expire(k, 5)
        await svc.get_session(app_name="a", user_id="u", session_id=s.id)
        assert await svc.client.ttl(keys[0]) > 90 and await svc.client.ttl(keys[1]) > 90
        await svc.append_event(s, Event(author="user", invocation_id="i"))
        assert 90 < await svc.client.ttl(keys[2]) <= 100
        # an expired session disappears from get and list (index pruned lazily)
        await svc.client.delete(*keys[:4])
        assert await svc.get_session(app_name="a", user_id="u", session_id=s.id) is None
        assert (await svc.list_sessions(app_name="a")).sessions == []
        assert await svc.client.zcard(keys[6]) == 0
    finally:
        await svc.close()


async def test_redis_sessions_survive_a_new_client(redis_url: str) -> None:
    a = RedisSessionService(redis_url, prefix="persist")
    s = await a.create_session(app_name="a", user_id="u")
    await a.append_event(s, Event(author="user", invocation_id="i"))
    await a.close()
    b = RedisSessionService(redis_url, prefix="persist")
    got = await b.get_session(app_name="a", user_id="u", session_id=s.id)
    assert got is not None and len(got.events) == 1
    await b.close()


async def test_a_deleted_session_leaves_no_text_on_disk(tmp_path: Path) -> None:
    """``secure_delete`` on the session writer's connection too: a deleted conversation's text is
    zeroed in the database file, not left readable in its free pages."""
    path = tmp_path / "s.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await create_memory_tables(engine)
    svc = SqlSessionService(engine)
    canary = "canary-" + "x7" * 40  # long enough to sit whole in one page
    s = await svc.create_session(app_name="a", user_id="u", session_id="gone")
    await svc.append_event(s, Event(author="user", invocation_id="i",
                                    content=types.Content(role="user", parts=[types.Part(text=canary)])))  # fmt: skip
    await svc.delete_session(app_name="a", user_id="u", session_id="gone")
    await svc.close()
    await engine.dispose()  # the last connection checkpoints the WAL into the file
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith("s.db") and canary.encode() in p.read_bytes()]
    assert leftovers == []
