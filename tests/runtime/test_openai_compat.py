"""Any OpenAI client can talk to a magec agent: the official SDK against /v1 (in-process ASGI)."""

from __future__ import annotations

import httpx2
import openai
import pytest

from magec.server import user_app
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.runtime.test_run_api import make_agent

A = "/api/v1/admin"


def sdk(apps: Apps, key: str = "none") -> openai.AsyncOpenAI:
    transport = httpx2.ASGITransport(app=user_app(apps.ctx))
    return openai.AsyncOpenAI(base_url="http://user/v1", api_key=key, max_retries=0,
                              http_client=httpx2.AsyncClient(transport=transport))


async def test_models_and_chat(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    models = await client.models.list()
    assert [m.id for m in models.data] == [aid]
    reply = await client.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "hola"}])
    assert reply.choices[0].message.content == "openai-x says: hola"
    assert reply.model == aid


async def test_streaming_and_session_continuity(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    raw = await client.chat.completions.with_raw_response.create(
        model=aid, messages=[{"role": "user", "content": "first"}], extra_headers={"X-Session-Id": "conv-1"})
    assert raw.headers["x-session-id"] == "conv-1"
    stream = await client.chat.completions.create(
        model=aid, messages=[{"role": "user", "content": "second turn"}], stream=True,
        extra_headers={"X-Session-Id": "conv-1"})
    pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(pieces) == "openai-x says: second turn" and len([p for p in pieces if p]) >= 2
    sent = openai_x.requests[-1].json["messages"]
    assert [m["role"] for m in sent][-3:] == ["user", "assistant", "user"]
    assert sent[-3]["content"] == "first"


async def test_history_from_messages(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    await client.chat.completions.create(model=aid, messages=[
        {"role": "user", "content": "my name is Ada"}, {"role": "assistant", "content": "Hi Ada"},
        {"role": "user", "content": "what is my name?"}])
    sent = openai_x.requests[-1].json["messages"]
    contents = [m.get("content") for m in sent if m["role"] != "system"]
    assert contents == ["my name is Ada", "Hi Ada", "what is my name?"]


async def test_errors(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x, key="sk-bad-key-0000")
    client = sdk(sqlite_apps)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model=aid, messages=[])
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(model=aid, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502 and "sk-bad-key-0000" not in str(info.value)


async def test_stateless_calls_store_nothing(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    raw = await client.chat.completions.with_raw_response.create(
        model=aid, messages=[{"role": "user", "content": "once"}], user="anon")
    assert "x-session-id" not in raw.headers
    stream = await client.chat.completions.create(model=aid, messages=[{"role": "user", "content": "s"}], stream=True,
                                                  user="anon")
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "openai-x says: s"
    stored = (await sqlite_apps.user.get(f"/api/v1/agent/apps/{aid}/users/anon/sessions")).json()
    assert stored == []
