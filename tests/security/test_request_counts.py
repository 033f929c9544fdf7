"""Hostile: a client token holder sends turn requests of very many small parts or tools.

Within the 2 MiB body limit, 60,000 one-character parts held the server's event loop — every
other client's requests — for 1 s (``/run``, ``/v1``) to 3 s (A2A) per request, before admission
could refuse it. Each route now refuses more than ``magec.api.counts`` allows with a 400 (A2A:
JSON-RPC invalid params) naming the field and the limit, and the model is never called.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from magec.api.counts import MAX_PARTS, MAX_PARTS_PER_MESSAGE, MAX_TOOLS
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake

A = "/api/v1/admin"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("llm")) as s:
        yield s


async def setup(apps: Apps, llm: FakeServer) -> tuple[str, dict[str, str]]:
    b = (await apps.admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": llm.url})).json()
    r = await apps.admin.post(f"{A}/agents", json={"name": "ag", "llm": {"backend": b["id"], "model": "m"},
                                                   "a2a": {"enabled": True}})
    aid = r.json()["id"]
    r = await apps.admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": [aid]})
    return aid, {"Authorization": f"Bearer {r.json()['token']}"}


def text_parts(n: int, key: str = "type", value: str = "text") -> list[dict[str, Any]]:
    return [{key: value, "text": "a"}] * n


def run_body(aid: str, n: int) -> dict[str, Any]:
    return {"appName": aid, "userId": "u", "sessionId": "s",
            "newMessage": {"role": "user", "parts": [{"text": "a"}] * n}}


def a2a_body(n: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "method": "message/send",
            "params": {"message": {"role": "user", "messageId": "m1", "parts": text_parts(n, "kind")}}}


def tools(n: int, flat: bool = False) -> list[dict[str, Any]]:
    fns = [{"name": f"t{i}", "parameters": {"type": "object", "properties": {}}} for i in range(n)]
    return [{"type": "function", **f} if flat else {"type": "function", "function": f} for f in fns]


def refused(r: Any, field: str, limit: int) -> None:
    assert r.status_code == 400, r.text[:300]
    body = r.json()
    text = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else body.get("error")
    assert field in str(text) and str(limit) in str(text), body


async def test_too_many_parts_or_tools_are_refused_naming_the_limit(sqlite_apps: Apps, llm: FakeServer) -> None:
    apps = sqlite_apps
    aid, h = await setup(apps, llm)
    llm.clear()
    over = MAX_PARTS_PER_MESSAGE + 1

    # the run API: one message's parts
    refused(await apps.user.post("/api/v1/agent/run", json=run_body(aid, over), headers=h), "newMessage.parts",
            MAX_PARTS_PER_MESSAGE)
    async with apps.user.stream("POST", "/api/v1/agent/run_sse", json=run_body(aid, over), headers=h) as r:
        await r.aread()
        refused(r, "newMessage.parts", MAX_PARTS_PER_MESSAGE)

    # /v1/chat/completions: one message's parts, every message's together, tools
    one = [{"role": "user", "content": text_parts(over)}]
    refused(await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": one}, headers=h),
            "messages[0].content", MAX_PARTS_PER_MESSAGE)
    per = MAX_PARTS_PER_MESSAGE
    many = [{"role": "user", "content": text_parts(per)}] * (MAX_PARTS // per + 1)
    refused(await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": many}, headers=h),
            "messages", MAX_PARTS)
    hello = [{"role": "user", "content": "hi"}]
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": hello,
                                                            "tools": tools(MAX_TOOLS + 1)}, headers=h)
    refused(r, "tools", MAX_TOOLS)

    # /v1/responses: an item's parts, all items' together, tools
    items = [{"role": "user", "content": text_parts(over, value="input_text")}]
    refused(await apps.user.post("/v1/responses", json={"model": aid, "input": items}, headers=h),
            "input[0].content", MAX_PARTS_PER_MESSAGE)
    items = [{"role": "user", "content": text_parts(per, value="input_text")}] * (MAX_PARTS // per + 1)
    refused(await apps.user.post("/v1/responses", json={"model": aid, "input": items}, headers=h), "input", MAX_PARTS)
    r = await apps.user.post("/v1/responses", json={"model": aid, "input": "hi", "tools": tools(MAX_TOOLS + 1, True)},
                             headers=h)
    refused(r, "tools", MAX_TOOLS)

    # A2A: JSON-RPC invalid params naming the field and the limit
    r = await apps.user.post(f"/api/v1/a2a/{aid}", json=a2a_body(over), headers=h)
    assert r.status_code == 200, r.text[:300]
    err = r.json()["error"]
    assert err["code"] == -32602 and "params.message.parts" in err["message"], err
    assert str(MAX_PARTS_PER_MESSAGE) in err["message"]

    assert llm.requests_to("chat") == []  # nothing ran

    # at the limits every route still answers
    r = await apps.user.post("/api/v1/agent/run", json=run_body(aid, MAX_PARTS_PER_MESSAGE), headers=h)
    assert r.status_code == 200, r.text[:300]
    r = await apps.user.post("/v1/chat/completions", headers=h, json={
        "model": aid, "messages": [{"role": "user", "content": text_parts(MAX_PARTS_PER_MESSAGE)}],
        "tools": tools(MAX_TOOLS)})
    assert r.status_code == 200, r.text[:300]
    r = await apps.user.post("/v1/responses", json={"model": aid, "input": "hi", "tools": tools(MAX_TOOLS, True)},
                             headers=h)
    assert r.status_code == 200, r.text[:300]
    r = await apps.user.post(f"/api/v1/a2a/{aid}", json=a2a_body(MAX_PARTS_PER_MESSAGE), headers=h)
    assert "result" in r.json(), r.text[:300]
    # a long history of one-part messages is no many-part request
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": [{"type": "text", "text": "a"}]}
               for i in range(MAX_PARTS)] + [{"role": "user", "content": "last"}]
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": history}, headers=h)
    assert r.status_code == 200, r.text[:300]


async def test_too_many_messages_are_refused_naming_the_limit(sqlite_apps: Apps, llm: FakeServer) -> None:
    """60,000 plain messages (a string ``content`` each: no parts to count) held the event loop
    ~0.45 s after parsing, and a client could send them back to back. ``limits.maxMessages``
    (20,000 by default) bounds one ``/v1`` request; a 16k-message conversation still runs."""
    from magec.api.counts import MAX_MESSAGES

    apps = sqlite_apps
    aid, h = await setup(apps, llm)
    llm.clear()
    plain = [{"role": "user" if i % 2 == 0 else "assistant", "content": "a"} for i in range(MAX_MESSAGES)]
    plain.append({"role": "user", "content": "last"})
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": plain}, headers=h)
    refused(r, "messages", MAX_MESSAGES)
    assert r.json()["error"]["param"] == "messages" and "limits.maxMessages" in r.json()["error"]["message"]
    items = [{"role": "user", "content": "a"}] * (MAX_MESSAGES + 1)
    r = await apps.user.post("/v1/responses", json={"model": aid, "input": items}, headers=h)
    refused(r, "input", MAX_MESSAGES)
    assert r.json()["error"]["param"] == "input"
    assert llm.requests_to("chat") == []  # nothing ran

    # the scale goal: a 16k-message history is one turn
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": plain[-16_001:]}, headers=h)
    assert r.status_code == 200, r.text[:300]
