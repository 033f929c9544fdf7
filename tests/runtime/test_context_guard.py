"""Context guard: long sessions send a bounded history, and what is cut is summarised by the agent's
own model (Magec's guard, adk-utils-go contextguard); the session keeps every event.

Driven as a client would: turns over the run API, a loopback OpenAI-shaped provider, and what that
provider received — the summary requests (recognised by Magec's summarising system prompt) and the
answering requests — is what is checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, RecordedRequest, Reply
from tests.runtime.test_run_api import U, make_agent, texts

SUMMARISING = "You are summarizing a conversation to preserve context for continuing later."
OPEN, CLOSE = "[Previous conversation summary]\n", "\n[End of summary - conversation continues below]"


def _system(req: RecordedRequest) -> str:
    first = (req.json or {}).get("messages", [{}])[0]
    content = first.get("content") if first.get("role") == "system" else ""
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content or [])


def is_summary(req: RecordedRequest) -> bool:
    return _system(req).startswith(SUMMARISING)


class Summaries:
    """The provider's answers to summary requests: ``SUMMARY <n>`` (usage 1000 in, 77 out), or
    ``failing`` while set; every other request gets the fake's echo."""

    def __init__(self) -> None:
        self.made = 0
        self.failing: Reply | None = None

    def __call__(self, req: RecordedRequest) -> Reply | None:
        if not is_summary(req):
            return None
        if self.failing is not None:
            return self.failing
        self.made += 1
        return Reply(text=f"SUMMARY {self.made}", usage=(1000, 77))


@pytest.fixture
def summaries() -> Summaries:
    return Summaries()


@pytest.fixture
def provider(summaries: Summaries) -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("openai-s", api_key="sk-x-key-1234", responder=summaries)) as s:
        yield s


def summary_requests(server: FakeServer) -> list[RecordedRequest]:
    return [r for r in server.requests_to("chat") if is_summary(r)]


def answering(server: FakeServer) -> list[RecordedRequest]:
    return [r for r in server.requests_to("chat") if not is_summary(r)]


def sent(req: RecordedRequest) -> list[str]:
    return [m.get("content") for m in req.json["messages"] if m["role"] != "system"]


def prompt(req: RecordedRequest) -> str:
    return str(sent(req)[0])


def exchange(i: int) -> str:
    return f"user: message {i}\nmodel: openai-s says: message {i}\n"


async def turn(apps: Apps, aid: str, text: str, sid: str = "s") -> list[str]:
    r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": sid,
                                               "newMessage": {"parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    return texts(r.json())


async def session(apps: Apps, aid: str, sid: str = "s") -> dict[str, Any]:
    return (await apps.user.get(f"{U}/apps/{aid}/users/u/sessions/{sid}")).json()


async def test_sliding_window_summarises_the_turns_it_cuts_once(sqlite_apps: Apps, provider: FakeServer) -> None:
    """Over ``maxTurns`` (7) turns, all but 30 % of them (2) are summarised; the next turns send the
    summary and the turns after it, and nothing is summarised again until they exceed 7 — then the
    new summary folds the old one in and covers only the turns not yet covered."""
    apps = sqlite_apps
    bid, aid = await make_agent(apps, provider, contextGuard={"enabled": True, "strategy": "sliding_window",
                                                              "maxTurns": 7})
    for i in range(7):
        assert await turn(apps, aid, f"message {i}") == [f"openai-s says: message {i}"]
    assert summary_requests(provider) == []
    assert await turn(apps, aid, "message 7") == ["openai-s says: message 7"]
    [first] = summary_requests(provider)
    assert prompt(first) == ("Provide a detailed summary of the following conversation.\n\n[Conversation to summarize]\n"
                             + "".join(exchange(i) for i in range(6)) + "[End of conversation]\n")
    assert _system(first).endswith("\n\nKeep the summary under 9600 words.")  # Magec's cap, 12,800 tokens
    assert first.json["max_tokens"] == 12_800 and not first.json.get("stream")
    chat = provider.requests_to("chat")
    assert chat[chat.index(first) + 1] is answering(provider)[-1]  # summarised, then answered
    summary_1 = OPEN + "SUMMARY 1" + CLOSE
    assert sent(answering(provider)[-1]) == [summary_1, "message 6", "openai-s says: message 6", "message 7"]

    for i in range(8, 13):  # 7 turns after the summary at most: nothing more to summarise
        await turn(apps, aid, f"message {i}")
        assert len(summary_requests(provider)) == 1
        assert sent(answering(provider)[-1])[:2] == [summary_1, "message 6"]
    await turn(apps, aid, "message 13")
    second = summary_requests(provider)[1]
    assert prompt(second) == ("Provide a detailed summary of the following conversation.\n\n"
                              "[Previous summary for context]\nSUMMARY 1\n[End previous summary]\n\n"
                              "Incorporate the previous summary into your new summary, updating any information "
                              "that has changed.\n\n[Conversation to summarize]\n"
                              + "".join(exchange(i) for i in range(6, 12)) + "[End of conversation]\n")
    assert sent(answering(provider)[-1]) == [OPEN + "SUMMARY 2" + CLOSE, "message 12", "openai-s says: message 12",
                                             "message 13"]

    stored = await session(apps, aid)
    assert len(stored["events"]) == 28  # the session keeps every turn; only its state has the summary
    assert stored["state"][f"__context_guard_summary_{aid}"] == "SUMMARY 2"
    metrics = (await apps.user.get("/metrics")).text
    out = re.search(rf'magec_llm_tokens_total{{agent="{aid}",backend="{bid}",direction="output"}} (\S+)', metrics)
    assert out and float(out.group(1)) == 14 * 5 + 2 * 77  # the summaries' usage is the agent's too


async def test_threshold_summarises_everything_but_the_latest_turn(sqlite_apps: Apps, provider: FakeServer) -> None:
    """Over the threshold, every turn but the latest is summarised; later turns send the summary and
    what follows it until that is over the limit again. ``maxTokens`` is the model's window, as in
    Magec: 2,000 compacts over 1,600 (its 20 % buffer below it)."""
    apps = sqlite_apps
    _, aid = await make_agent(apps, provider, contextGuard={"enabled": True, "strategy": "threshold",
                                                            "maxTokens": 2000})
    x = "x" * 1000  # a turn ≈ 509 estimated tokens (its message ≈ 253, the echo ≈ 256)
    for i in range(3):
        await turn(apps, aid, f"message {i} {x}")
    assert summary_requests(provider) == []
    await turn(apps, aid, f"message 3 {x}")  # ≈ 1,780 tokens: turns 0-2 go into a summary
    [first] = summary_requests(provider)
    assert all(f"user: message {i} {x}\n" in prompt(first) for i in range(3)) and "message 3" not in prompt(first)
    summary_1 = OPEN + "SUMMARY 1" + CLOSE
    assert sent(answering(provider)[-1]) == [summary_1, f"message 3 {x}"]
    for i in (4, 5):  # the summary and what follows it stay under the limit
        await turn(apps, aid, f"message {i} {x}")
        assert len(summary_requests(provider)) == 1
    assert sent(answering(provider)[-1]) == [summary_1, f"message 3 {x}", f"openai-s says: message 3 {x}",
                                             f"message 4 {x}", f"openai-s says: message 4 {x}", f"message 5 {x}"]
    await turn(apps, aid, f"message 6 {x}")  # over again: turns 3-5 join the summary
    second = summary_requests(provider)[1]
    assert "[Previous summary for context]\nSUMMARY 1\n" in prompt(second)
    assert all(f"user: message {i} {x}\n" in prompt(second) for i in (3, 4, 5))
    assert "message 2" not in prompt(second) and "message 6" not in prompt(second)
    assert sent(answering(provider)[-1]) == [OPEN + "SUMMARY 2" + CLOSE, f"message 6 {x}"]
    assert len((await session(apps, aid))["events"]) == 14


@pytest.mark.parametrize("failure", ["error", "timeout"])
async def test_a_failed_summary_keeps_the_turns_for_the_next_one_and_says_so(
        sqlite_apps: Apps, provider: FakeServer, summaries: Summaries, failure: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """A summary the provider refuses (or does not answer within the backend's deadline): the turn
    still answers, with the last ``maxTurns`` turns; the session's state says the summary failed;
    and the turns it should have covered are not lost — they wait, and the next summary that
    succeeds covers them all (before: the turns that left the window meanwhile were dropped
    unsummarised), then the failure is cleared."""
    apps = sqlite_apps
    _, aid = await make_agent(apps, provider, contextGuard={"enabled": True, "strategy": "sliding_window",
                                                            "maxTurns": 2})
    if failure == "timeout":
        backend = (await apps.admin.get(f"/api/v1/admin/agents/{aid}")).json()["llm"]["backend"]
        record = (await apps.admin.get(f"/api/v1/admin/backends/{backend}")).json()
        r = await apps.admin.put(f"/api/v1/admin/backends/{backend}", json={**record, "totalTimeout": 1,
                                                                             "maxAttempts": 1})
        assert r.status_code == 200, r.text
        summaries.failing = Reply(text="too late", delay=5)
    else:
        summaries.failing = Reply.fail(400, "summaries are off today")
    for i in range(2):
        await turn(apps, aid, f"message {i}")
    assert await turn(apps, aid, "message 2") == ["openai-s says: message 2"]
    assert len(summary_requests(provider)) == 1  # asked, failed
    assert sent(answering(provider)[-1]) == ["message 1", "openai-s says: message 1", "message 2"]
    assert await turn(apps, aid, "message 3") == ["openai-s says: message 3"]  # fails again
    assert len(summary_requests(provider)) == 2
    assert "message 0" in prompt(summary_requests(provider)[-1])  # still waiting for its summary
    assert sent(answering(provider)[-1]) == ["message 2", "openai-s says: message 2", "message 3"]
    state = (await session(apps, aid))["state"]
    assert f"__context_guard_summary_{aid}" not in state
    failed = state[f"__context_guard_summary_failed_{aid}"]
    assert failed["waitingTurns"] == 3 and failed["at"] > 0, failed
    if failure == "error":
        assert "summaries are off today" in failed["error"], failed
    assert any(r.levelname == "WARNING" and "kept for the next summary" in r.getMessage() for r in caplog.records)

    summaries.failing = None
    assert await turn(apps, aid, "message 4") == ["openai-s says: message 4"]
    retry = summary_requests(provider)[-1]
    # every turn the failed summaries should have covered, message 0 too
    assert exchange(0) + exchange(1) + exchange(2) + exchange(3) in prompt(retry), prompt(retry)
    assert sent(answering(provider)[-1]) == [OPEN + "SUMMARY 1" + CLOSE, "message 4"]
    state = (await session(apps, aid))["state"]
    assert state[f"__context_guard_summary_{aid}"] == "SUMMARY 1"
    assert not state.get(f"__context_guard_summary_failed_{aid}"), state


async def test_a_streamed_turn_does_not_stream_the_summary(sqlite_apps: Apps, provider: FakeServer) -> None:
    """The summary request is not streamed: the client of a streamed turn gets the answer's tokens,
    not the summary's."""
    import json

    apps = sqlite_apps
    _, aid = await make_agent(apps, provider, contextGuard={"enabled": True, "strategy": "sliding_window",
                                                            "maxTurns": 1})
    await turn(apps, aid, "message 0")
    body = {"appName": aid, "userId": "u", "sessionId": "s", "streaming": True,
            "newMessage": {"parts": [{"text": "message 1"}]}}
    events = []
    async with apps.user.stream("POST", f"{U}/run_sse", json=body) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    said = "".join(p.get("text", "") for e in events for p in (e.get("content") or {}).get("parts", []))
    assert "SUMMARY" not in said and "openai-s says: message 1" in said
    assert len(summary_requests(provider)) == 1
    assert sent(answering(provider)[-1]) == [OPEN + "SUMMARY 1" + CLOSE, "message 1"]


async def test_blank_max_turns_keeps_magecs_20(sqlite_apps: Apps, provider: FakeServer) -> None:
    """Magec's guard keeps 20 turns when ``maxTurns`` is not set (it kept everything here); a
    ``null`` or an emptied number box (``""``) is blank too (they were a 400)."""
    apps = sqlite_apps
    _, aid = await make_agent(apps, provider, contextGuard={"enabled": True, "strategy": "sliding_window",
                                                            "maxTurns": None})
    agent = (await apps.admin.get(f"/api/v1/admin/agents/{aid}")).json()
    assert agent["contextGuard"]["maxTurns"] == 0
    for blank in ("", None):
        r = await apps.admin.put(f"/api/v1/admin/agents/{aid}", json={**agent, "contextGuard": {
            **agent["contextGuard"], "maxTokens": blank}})
        assert r.status_code == 200 and r.json()["contextGuard"]["maxTokens"] == 0, r.text
    r = await apps.admin.put(f"/api/v1/admin/agents/{aid}", json={**agent, "contextGuard": {
        **agent["contextGuard"], "maxTurns": -1}})
    assert r.status_code == 400 and r.json()["field"] == "contextGuard.maxTurns"
    for i in range(20):
        await turn(apps, aid, f"message {i}")
    assert summary_requests(provider) == []  # 20 turns: nothing cut yet
    await turn(apps, aid, "message 20")
    await turn(apps, aid, "message 21")
    assert len(summary_requests(provider)) == 1  # turns 0-14 (all but 30 % of 20)
    users = [m for m in sent(answering(provider)[-1]) if not m.startswith("openai-s says")]
    assert users == [OPEN + "SUMMARY 1" + CLOSE] + [f"message {i}" for i in range(15, 22)]


async def test_blank_max_tokens_keeps_under_magecs_102400(sqlite_apps: Apps, provider: FakeServer) -> None:
    """Magec's threshold without ``maxTokens`` compacts at 102,400 tokens (an unknown model's
    128,000 less its 20 % buffer); here it sent everything, however long."""
    apps = sqlite_apps
    _, aid = await make_agent(apps, provider, contextGuard={"enabled": True, "strategy": "threshold"})
    for i in range(6):  # ≈ 20,000 estimated tokens a turn (a 40,000-character message and its echo)
        await turn(apps, aid, f"message {i} " + "x" * 40_000)
    [summary] = summary_requests(provider)  # at the sixth turn: 110,000 tokens
    assert all(f"user: message {i} " in prompt(summary) for i in range(5))
    messages = sent(answering(provider)[-1])
    assert messages[0] == OPEN + "SUMMARY 1" + CLOSE and messages[1].startswith("message 5 ") and len(messages) == 2


async def test_secret_values_are_masked_in_the_summary_and_after_it(sqlite_apps: Apps, provider: FakeServer) -> None:
    """The summary request is masked like the agent's other requests, and the callbacks after the
    guard (the secrets guard among them) still run on the request the summary was made for."""
    apps = sqlite_apps
    token = "tok-7c1d9e55a0b34f2e"
    r = await apps.admin.post("/api/v1/admin/secrets", json={"name": "Token", "key": "TOKEN", "value": token})
    assert r.status_code in (200, 201), r.text
    _, aid = await make_agent(apps, provider, contextGuard={"enabled": True, "strategy": "sliding_window",
                                                            "maxTurns": 1})
    await turn(apps, aid, f"my token is {token}")
    await turn(apps, aid, f"is {token} still valid?")  # over maxTurns: the first turn is summarised
    [summary] = summary_requests(provider)
    assert "user: my token is ***\n" in prompt(summary) and token not in summary.body.decode()
    answer = answering(provider)[-1]
    assert sent(answer) == [OPEN + "SUMMARY 1" + CLOSE, "is *** still valid?"] and token not in answer.body.decode()


def test_max_tokens_is_the_models_window_less_magecs_buffer() -> None:
    """Magec's ``computeBuffer``: 20 % of a window below 200,000 tokens, 20,000 from there on."""
    from magec.agents.context_guard import max_tokens
    from magec.resources.models import ContextGuard

    def at(window: int) -> int:
        return max_tokens(ContextGuard.model_validate({"enabled": True, "strategy": "threshold", "maxTokens": window}))

    assert [at(w) for w in (0, 2000, 128_000, 199_999, 200_000, 1_000_000)] == [
        102_400, 1600, 102_400, 160_000, 180_000, 980_000]
