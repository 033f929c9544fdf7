"""A turn's cost does not grow with the session: stored events are parsed once per process and
kept (magec.memory.event_cache); each turn reads only what is new. Watched as a client would, on
``/metrics`` (``magec_session_events_loaded``), and checked for correctness when the stored
session changes under the cache (deleted and re-created with the same id)."""

from __future__ import annotations

import re
from pathlib import Path

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer
from tests.runtime.test_run_api import make_agent, texts

U = "/api/v1/agent"


async def _metric(apps: Apps, name: str) -> float:
    """A gauge's value on ``/metrics``, as a scraper reads it."""
    text = (await apps.user.get("/metrics")).text
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, text[:500]
    return float(found.group(1))


async def _loaded(apps: Apps) -> float:
    return await _metric(apps, "magec_session_events_loaded")


async def _turn(apps: Apps, aid: str, sid: str, text: str) -> list[str]:
    r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u1", "sessionId": sid,
                                               "newMessage": {"role": "user", "parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    return texts(r.json())


async def test_turns_parse_no_stored_events_once_cached(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    for i in range(12):
        await _turn(sqlite_apps, aid, "long", f"turn {i}")
    before = await _loaded(sqlite_apps)
    for i in range(12, 15):
        assert await _turn(sqlite_apps, aid, "long", f"turn {i}") == [f"openai-x says: turn {i}"]
    assert await _loaded(sqlite_apps) == before  # 30 stored events, none re-parsed by 3 more turns
    sent = openai_x.requests_to("chat")[-1].json["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == [f"turn {i}" for i in range(15)]


async def test_a_session_replaced_under_the_cache_is_read_afresh(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    await _turn(sqlite_apps, aid, "s", "first life")
    await _turn(sqlite_apps, aid, "s", "still first")
    assert (await sqlite_apps.user.delete(f"{U}/apps/{aid}/users/u1/sessions/s")).status_code == 204
    assert (await sqlite_apps.user.post(f"{U}/apps/{aid}/users/u1/sessions/s", json={})).status_code == 200
    await _turn(sqlite_apps, aid, "s", "second life")
    sent = openai_x.requests_to("chat")[-1].json["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["second life"]
    events = (await sqlite_apps.user.get(f"{U}/apps/{aid}/users/u1/sessions/s")).json()["events"]
    assert len(events) == 2


async def _served(apps: Apps) -> float:
    return await _metric(apps, "magec_session_events_served")


async def test_a_sliding_window_agent_is_given_only_its_window(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """With a sliding-window context guard, a turn's session holds only the events the guard can
    send: what a turn is given stays flat as the session grows, and the answers are unchanged. The
    turns that leave the request are summarised (magec.agents.context_guard) from that window too:
    the turn that cuts them still reads no more than the window, and no stored event again."""
    _, aid = await make_agent(sqlite_apps, openai_x, name="Windowed",
                              contextGuard={"enabled": True, "strategy": "sliding_window", "maxTurns": 2})
    for i in range(20):
        await _turn(sqlite_apps, aid, "w", f"turn {i}")
    served: list[float] = []
    loaded = await _loaded(sqlite_apps)
    for i in range(20, 23):  # turn 22 is over maxTurns: it summarises turns 20 and 21
        before = await _served(sqlite_apps)
        assert await _turn(sqlite_apps, aid, "w", f"turn {i}") == [f"openai-x says: turn {i}"]
        served.append(await _served(sqlite_apps) - before)
    assert all(0 < n <= 4 for n in served), served  # 40+ stored events; a turn is given ≤ 2 turns' worth
    assert await _loaded(sqlite_apps) == loaded  # the summary's state is this process's own write
    summary_request, answer = openai_x.requests_to("chat")[-2:]
    told = summary_request.json["messages"][-1]["content"].rsplit("[Conversation to summarize]\n", 1)[1]
    assert told == ("user: turn 20\nmodel: openai-x says: turn 20\nuser: turn 21\nmodel: openai-x says: turn 21\n"
                    "[End of conversation]\n")
    sent = [m["content"] for m in answer.json["messages"] if m["role"] != "system"]
    assert sent[0].startswith("[Previous conversation summary]\nopenai-x says: ") and sent[1:] == ["turn 22"]
    # the stored session is whole: the window is what a turn reads, not what is kept
    r = await sqlite_apps.user.get(f"{U}/apps/{aid}/users/u1/sessions/w")
    assert len(r.json()["events"]) == 46
    # an agent without a window is given the whole session
    _, plain = await make_agent(sqlite_apps, openai_x, name="Whole")
    for i in range(3):
        await _turn(sqlite_apps, plain, "p", f"turn {i}")
    before = await _served(sqlite_apps)
    await _turn(sqlite_apps, plain, "p", "turn 3")
    assert await _served(sqlite_apps) - before == 6


async def _cache_bytes(apps: Apps) -> float:
    return await _metric(apps, "magec_session_cache_bytes")


async def test_the_kept_events_are_bounded_in_bytes(tmp_path: Path, openai_x: FakeServer) -> None:
    """Big messages cannot make the cache pin memory past ``limits.sessionCacheBytes``: a session
    over a quarter of it is not kept (re-read each turn), and the least recent ones give way."""
    budget = 400_000
    async with running_apps(tmp_path, config={"session_cache_bytes": budget}) as apps:
        _, aid = await make_agent(apps, openai_x)
        for i in range(3):
            await _turn(apps, aid, "small", f"hello {i}")
        kept = await _cache_bytes(apps)
        assert 0 < kept < 10_000
        before = await _loaded(apps)
        await _turn(apps, aid, "small", "again")
        assert await _loaded(apps) == before  # still served from the cache

        big = "x" * 60_000  # the user's event and the echoed answer: ~120 KB a turn, over a quarter
        for i in range(3):
            before = await _loaded(apps)
            assert await _turn(apps, aid, "big", f"{i} {big}") == [f"openai-x says: {i} {big}"]
            assert await _cache_bytes(apps) <= budget
        assert await _loaded(apps) - before == 4  # not kept: its 4 earlier events were read again

        mid = "y" * 20_000  # ~40 KB a turn: sessions of two turns fit, five of them do not
        for s in range(5):
            for i in range(2):
                await _turn(apps, aid, f"mid-{s}", f"{i} {mid}")
                assert await _cache_bytes(apps) <= budget
        sent = openai_x.requests_to("chat")[-1].json["messages"]
        assert [m["content"] for m in sent if m["role"] == "user"] == [f"0 {mid}", f"1 {mid}"]
