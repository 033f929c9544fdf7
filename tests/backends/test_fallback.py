"""Fallback chains on the LLM role, as a client sees them (semantics: magec.backends.fallback).

Primary down → the answer comes from the fallback on every chat route, marked in the event and in
usage; a caller's error does not move on; a failure after output reached the client is not
replayed on the fallback; an open breaker skips the primary at once; the Admin API validates and
guards the chain like any other reference.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import AnthropicFake, FakeServer, GeminiFake, OpenAIFake, Reply

A = "/api/v1/admin"
U = "/api/v1/agent"


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@dataclass
class Env:
    apps: Apps
    primary: OpenAIFake
    fallback: AnthropicFake
    primary_id: str
    fallback_id: str


async def _backend(apps: Apps, name: str, type_: str, url: str, **extra: Any) -> str:
    body = {"name": name, "type": type_, "url": url, "apiKey": "k-1", "timeout": 2.0, "connectTimeout": 1.0, **extra}
    r = await apps.admin.post(f"{A}/backends", json=body)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def _agent(apps: Apps, name: str, llm: dict[str, Any]) -> str:
    r = await apps.admin.post(f"{A}/agents", json={"name": name, "llm": llm})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


@pytest.fixture
async def env(tmp_path: Any) -> AsyncIterator[Env]:
    primary, fallback = OpenAIFake("primary"), AnthropicFake("fallback")
    with FakeServer(primary) as p, FakeServer(fallback) as f:
        async with running_apps(tmp_path / "data", config={"breaker_failures": 50}) as apps:
            pid = await _backend(apps, "primary", "openai", p.url)
            fid = await _backend(apps, "claude", "anthropic", f.url)
            yield Env(apps, primary, fallback, pid, fid)


async def _run(apps: Apps, agent: str, text: str) -> list[dict[str, Any]]:
    body = {"appName": agent, "userId": "u", "newMessage": {"parts": [{"text": text}]}}
    r = await apps.user.post(f"{U}/run", json=body)
    assert r.status_code == 200, r.text
    return list(r.json())


async def _run_sse(apps: Apps, agent: str, text: str) -> list[dict[str, Any]]:
    body = {"appName": agent, "userId": "u", "newMessage": {"parts": [{"text": text}]}, "streaming": True}
    events = []
    async with apps.user.stream("POST", f"{U}/run_sse", json=body) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def _final_text(events: list[dict[str, Any]]) -> str:
    return "".join(
        p.get("text", "") for e in events if not e.get("partial") for p in (e.get("content") or {}).get("parts", [])
    )


async def test_primary_down_every_route_answers_from_fallback(env: Env) -> None:
    apps = env.apps
    dead = await _backend(apps, "dead", "openai", closed_port_url())
    agent = await _agent(
        apps, "resilient", {"backend": dead, "model": "m-dead", "fallbacks": [{"backend": env.fallback_id, "model": "claude-x"}]}
    )
    env.fallback.script(*["from the fallback"] * 4)

    events = await _run(apps, agent, "hello")
    assert _final_text(events) == "from the fallback"
    assert not any(e.get("errorCode") for e in events)
    marked = [e for e in events if (e.get("customMetadata") or {}).get("magec")]
    assert marked, events
    info = marked[-1]["customMetadata"]["magec"]["fallback"]
    assert info == {"index": 1, "backend": env.fallback_id, "backendName": "claude", "model": "claude-x"}

    events = await _run_sse(apps, agent, "hello")
    assert _final_text(events) == "from the fallback"
    assert not any(e.get("errorCode") for e in events)

    r = await apps.user.post("/v1/chat/completions", json={"model": agent, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "from the fallback"

    chunks = []
    async with apps.user.stream(
        "POST", "/v1/chat/completions", json={"model": agent, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    ) as s:
        async for line in s.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[6:]))
    assert "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices")) == "from the fallback"
    assert not any("error" in c for c in chunks)

    # each fallback request asked for the fallback's own model
    assert [r.json["model"] for r in env.fallback.requests_to("chat")] == ["claude-x"] * 4
    # usage is booked on the backend that answered
    usage = (await apps.admin.get(f"{A}/usage", params={"agent": agent})).json()
    assert {u["backendId"] for u in usage if u.get("kind", "llm") == "llm"} == {env.fallback_id}, usage


async def test_server_errors_move_on_caller_errors_do_not(env: Env) -> None:
    apps = env.apps
    agent = await _agent(
        apps, "chain", {"backend": env.primary_id, "model": "gpt-p", "fallbacks": [{"backend": env.fallback_id, "model": "c"}]}
    )
    # chat replies only: a failed call makes the backend re-check itself at once (a model listing)
    env.primary.script(Reply.fail(503, "overloaded"), route="chat")
    env.fallback.script("rescued", route="chat")
    assert _final_text(await _run(apps, agent, "one")) == "rescued"
    # maxAttempts is 3, but a link with a fallback after it fails over at once instead of retrying
    assert len(env.primary.requests_to("chat")) == 1

    # a caller's error (400) is the caller's: the fallback would refuse it too, so it is not asked
    env.primary.script(Reply.fail(400, "this request is invalid"), route="chat")
    events = await _run(apps, agent, "two")
    errors = [e for e in events if e.get("errorCode")]
    assert len(errors) == 1 and errors[0]["errorCode"] == "bad_request", events
    assert len(env.fallback.requests_to("chat")) == 1

    # every link failing: one error, the last link's
    env.primary.script(Reply.fail(500, "primary broke"), route="chat")
    env.fallback.script(*[Reply.fail(529, "fallback overloaded")] * 3, route="chat")  # the last link keeps its retries
    events = await _run(apps, agent, "three")
    errors = [e for e in events if e.get("errorCode")]
    assert len(errors) == 1, events
    assert "fallback overloaded" in errors[0]["errorMessage"]
    assert len(env.fallback.requests_to("chat")) == 1 + 3


async def test_failure_after_streamed_output_is_not_replayed(env: Env) -> None:
    apps = env.apps
    agent = await _agent(
        apps, "midstream", {"backend": env.primary_id, "model": "gpt-p", "fallbacks": [{"backend": env.fallback_id, "model": "c"}]}
    )
    env.primary.script(Reply(text="one two three four five", cut_after=2), route="chat")
    events = await _run_sse(apps, agent, "stream please")
    errors = [e for e in events if e.get("errorCode")]
    assert len(errors) == 1 and events[-1] is errors[0], events
    streamed = "".join(p.get("text", "") for e in events if e.get("partial") for p in (e.get("content") or {}).get("parts", []))
    assert streamed and "five" not in streamed
    assert env.fallback.requests_to("chat") == []  # nothing is shown twice

    # the same cut on a non-streamed call reached no client yet: the fallback answers it whole
    env.primary.script(Reply(text="one two three four five", cut_after=2), route="chat")
    env.fallback.script("whole answer", route="chat")
    assert _final_text(await _run(apps, agent, "no stream")) == "whole answer"


async def test_open_breaker_skips_the_primary_at_once(tmp_path: Any) -> None:
    primary, fallback = OpenAIFake("p"), GeminiFake("g")
    with FakeServer(primary) as p, FakeServer(fallback) as g:
        async with running_apps(tmp_path / "data", config={"breaker_failures": 1, "breaker_cooldown": 600}) as apps:
            pid = await _backend(apps, "p", "openai", p.url)
            gid = await _backend(apps, "g", "gemini", g.url)
            agent = await _agent(apps, "a", {"backend": pid, "model": "m", "fallbacks": [{"backend": gid, "model": "gemini-x"}]})
            primary.script(Reply.fail(500, "down"))
            fallback.script("first", "second")
            assert _final_text(await _run(apps, agent, "x")) == "first"
            backend = (await apps.admin.get(f"{A}/backends/{pid}")).json()
            assert backend["breaker"]["state"] == "open", backend
            start = time.monotonic()
            assert _final_text(await _run(apps, agent, "y")) == "second"
            assert time.monotonic() - start < 1.5
            assert len(primary.requests_to("chat")) == 1  # refused by the breaker, not called


async def test_admin_api_validates_and_guards_the_chain(env: Env) -> None:
    apps = env.apps
    r = await apps.admin.post(
        f"{A}/agents",
        json={"name": "too many", "llm": {"backend": env.primary_id, "model": "m",
                                          "fallbacks": [{"backend": env.fallback_id, "model": "c"}] * 6}},
    )
    assert r.status_code == 400 and "llm.fallbacks" in r.text, r.text
    # anthropic has no text-to-speech: refused on the fallback's own field
    r = await apps.admin.post(
        f"{A}/agents",
        json={"name": "tts", "llm": {"backend": env.primary_id, "model": "m"},
              "tts": {"backend": env.primary_id, "fallbacks": [{"backend": env.fallback_id}]}},
    )
    assert r.status_code == 400 and r.json().get("field") == "tts.fallbacks[0].backend", r.text

    agent = await _agent(
        apps, "guarded", {"backend": env.primary_id, "model": "m", "fallbacks": [{"backend": env.fallback_id, "model": "c"}]}
    )
    got = (await apps.admin.get(f"{A}/agents/{agent}")).json()
    assert got["llm"]["fallbacks"] == [{"backend": env.fallback_id, "model": "c"}]
    r = await apps.admin.delete(f"{A}/backends/{env.fallback_id}")
    assert r.status_code == 409 and "llm.fallbacks[0].backend" in r.text, r.text
    r = await apps.admin.delete(f"{A}/backends/{env.fallback_id}", params={"force": "true"})
    assert r.status_code in (200, 204), r.text
    got = (await apps.admin.get(f"{A}/agents/{agent}")).json()
    assert got["llm"]["fallbacks"] == []
    # the agent still answers from its primary
    env.primary.script("primary again")
    assert _final_text(await _run(apps, agent, "after")) == "primary again"
