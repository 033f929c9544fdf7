"""A stateless call's history (``/v1`` with ``messages``): an agent's history goes straight into its
model requests (no session events), mapped off the event loop when long — and everything an
agent's callbacks do to a request (the context guard's window, the secrets guard) still applies."""

from __future__ import annotations

import asyncio
import gc
import json
import uuid

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from google.genai import types

from magec import heap
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.runtime.test_run_api import make_agent


def _history(turns: int) -> list[dict[str, str]]:
    out = []
    for i in range(turns):
        out += [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
    return out


async def test_a_long_history_reaches_the_provider_whole_and_in_order(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    messages = _history(1500) + [{"role": "user", "content": "and now?"}]
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": messages})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "openai-x says: and now?"
    sent = [m for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] != "system"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("assistant" if m["role"] == "assistant" else "user", m["content"]) for m in messages]
    # the call left nothing behind: a second, short call sees only its own history
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": [{"role": "user", "content": "hi"}]})
    assert [m["content"] for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] != "system"] == ["hi"]


async def test_a_long_history_reaches_an_anthropic_backend_whole_and_in_order(sqlite_apps: Apps,
                                                                             anthropic_fake: FakeServer) -> None:
    """The Anthropic adapter builds a long request's body off the loop and sends it as JSON bytes
    (the SDK does not walk it): every message arrives, in order, with the sampling fields."""
    apps = sqlite_apps
    _, aid = await make_agent(apps, anthropic_fake, "anthropic")
    messages = _history(1500) + [{"role": "user", "content": "and now?"}]
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": messages, "temperature": 0.3})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "claude-fake says: and now?"
    sent = anthropic_fake.requests_to("chat")[-1].json
    assert [(m["role"], [b["text"] for b in m["content"]]) for m in sent["messages"]] == [
        (m["role"], [m["content"]]) for m in messages]
    assert sent["temperature"] == 0.3 and "extra_body" not in sent


async def test_a_stateless_history_is_let_go_once_answered(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """Memory: nothing keeps an agent's stateless history after its answer — not even the timers
    the call started (on asyncio's own loop, which this in-process server runs on, a cancelled
    timer holds a copy of its context until its time: the SDK's read deadline, minutes; uvloop,
    what ``magec serve`` runs on, lets go at once)."""
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    marker = f"keep-{uuid.uuid4().hex}"
    messages = [{"role": role, "content": f"{marker} {i}"} for i in range(20) for role in ("user", "assistant")]
    messages.append({"role": "user", "content": "now"})
    for stream in (False, True):
        r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": messages, "stream": stream})
        assert r.status_code == 200
        text = (r.json()["choices"][0]["message"]["content"] if not stream else "".join(
            json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            for line in r.text.splitlines() if line.startswith("data: {")))
        assert text == "openai-x says: now"
    assert marker in json.dumps(openai_x.requests_to("chat")[-1].json)  # it did reach the provider
    gc.collect()
    kept = [o for o in gc.get_objects() if isinstance(o, types.Content)
            and any((p.text or "").startswith(marker) for p in o.parts or [])]
    assert kept == []


async def test_other_requests_are_served_while_a_long_history_is_mapped(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """The long call and a short one run together and both answer (the mapping is not one block on
    the loop that the short call must wait out; no timing asserted)."""
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    long_call = apps.user.post("/v1/chat/completions",
                               json={"model": aid, "messages": _history(4000) + [{"role": "user", "content": "long"}]})
    short_call = apps.user.get("/api/v1/health")
    long_r, short_r = await asyncio.gather(long_call, short_call)
    assert isinstance(long_r, httpx.Response) and long_r.status_code == 200, long_r.text[:200]
    assert short_r.status_code == 200


async def test_the_context_guard_windows_a_stateless_history(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x, contextGuard={"enabled": True, "strategy": "sliding_window", "maxTurns": 2})
    openai_x.script(Reply(text="ok"))
    r = await apps.user.post("/v1/chat/completions",
                             json={"model": aid, "messages": _history(10) + [{"role": "user", "content": "now"}]})
    assert r.status_code == 200
    sent = [m["content"] for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] != "system"]
    assert sent == ["q9", "a9", "now"]  # the last 2 user turns: q9 (with its answer) and this one


async def test_a_fallback_gets_the_whole_long_history_too(sqlite_apps: Apps, openai_x: FakeServer,
                                                          openai_y: FakeServer) -> None:
    """A long request passes ADK's per-call telemetry with its leading contents set aside
    (magec.backends.parked); whichever link answers — here the fallback, after the primary's
    500 — receives every message, in order."""
    apps = sqlite_apps
    y = (await apps.admin.post("/api/v1/admin/backends", json={"name": "Y", "type": "openai", "url": openai_y.url,
                                                                 "apiKey": "sk-y-key-1234"})).json()
    _, aid = await make_agent(apps, openai_x)
    agent = (await apps.admin.get(f"/api/v1/admin/agents/{aid}")).json()
    agent["llm"]["fallbacks"] = [{"backend": y["id"], "model": "m-2"}]
    assert (await apps.admin.put(f"/api/v1/admin/agents/{aid}", json=agent)).status_code == 200
    openai_x.script(Reply.fail(500, "down"), route="chat")
    messages = _history(100) + [{"role": "user", "content": "last one"}]
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": messages})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "openai-y says: last one"
    for fake in (openai_x, openai_y):  # the failed primary's request was whole as well
        sent = [m["content"] for m in fake.calls()[-1].json["messages"] if m["role"] != "system"]
        assert sent == [m["content"] for m in messages]


async def test_older_collections_wait_while_a_long_history_is_in_flight_and_resume_after(sqlite_apps: Apps) -> None:
    """A long history defers the collector's older passes (magec/heap.py) from its mapping to
    its answer — the provider is called while they wait — and nothing keeps them waiting after
    the answer; a short history never defers them, nor does a client's copy of a stored one."""
    seen: list[bool] = []
    provider = FastAPI()

    @provider.post("/chat/completions")
    @provider.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        seen.append(heap.deferring())  # this provider runs in the server's process
        if (await request.json()).get("stream"):
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m-1",
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
            return Response(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n", media_type="text/event-stream")
        return JSONResponse({"id": "c", "object": "chat.completion", "created": 0, "model": "m-1", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]})

    apps = sqlite_apps
    with FakeServer(provider) as server:
        _, aid = await make_agent(apps, server)
        for messages in (_history(3) + [{"role": "user", "content": "short"}],
                         _history(1500) + [{"role": "user", "content": "long"}]):
            for stream in (False, True):
                r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": messages, "stream": stream})
                assert r.status_code == 200, r.text[:300]
                assert not heap.deferring()
        # with a stored session the session is the history: the client's copy is let go at once
        r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": messages},
                                 headers={"X-Session-Id": f"s-{uuid.uuid4().hex}"})
        assert r.status_code == 200, r.text[:300]
        assert not heap.deferring()
    assert seen == [False, False, True, True, False]
