"""Any OpenAI client can talk to a magec agent: the official SDK against /v1 (in-process ASGI)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest

from magec.server import user_app
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
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
    assert [m.magec_id for m in models.data] == [aid]  # type: ignore[attr-defined]
    reply = await client.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "hola"}])
    assert reply.choices[0].message.content == "openai-x says: hola"
    assert reply.model == "Helper"  # the agent named as the client names it


async def test_streaming_and_session_continuity(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    raw = await client.chat.completions.with_raw_response.create(
        model=aid, messages=[{"role": "user", "content": "first"}], extra_headers={"X-Session-Id": "conv-1"})
    assert raw.headers["x-session-id"] == "conv-1"
    # paced: tokens that arrive together are relayed together (tests/runtime/test_token_relay.py)
    openai_x.script(Reply(text="openai-x says: second turn", chunk_delay=0.05))
    stream = await client.chat.completions.create(
        model=aid, messages=[{"role": "user", "content": "second turn"}], stream=True,
        extra_headers={"X-Session-Id": "conv-1"})
    pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(pieces) == "openai-x says: second turn" and len([p for p in pieces if p]) >= 2
    sent = openai_x.requests_to("chat")[-1].json["messages"]
    assert [m["role"] for m in sent][-3:] == ["user", "assistant", "user"]
    assert sent[-3]["content"] == "first"


async def test_history_from_messages(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    await client.chat.completions.create(model=aid, messages=[
        {"role": "user", "content": "my name is Ada"}, {"role": "assistant", "content": "Hi Ada"},
        {"role": "user", "content": "what is my name?"}])
    sent = openai_x.requests_to("chat")[-1].json["messages"]
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


# ----- OpenAI's error object ---------------------------------------------------------------------

def chat_body(model: str, text: str = "hi", **more: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **more}


async def test_errors_are_openai_error_objects(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    r = await apps.user.post("/v1/chat/completions", json=chat_body("nope"))
    assert r.status_code == 404
    assert r.json() == {"error": {"message": "The model 'nope' does not exist or you do not have access to it.",
                                  "type": "invalid_request_error", "code": "model_not_found", "param": "model"}}
    r = await apps.user.post("/v1/chat/completions", json={"model": aid, "messages": "hi"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    assert r.json()["error"]["type"] == "invalid_request_error"
    r = await apps.user.post("/v1/chat/completions", json=chat_body(aid, temperature=7))
    assert r.status_code == 400 and r.json()["error"]["param"] == "temperature"
    r = await apps.user.post("/v1/chat/completions", json=chat_body(aid, n=2))
    assert r.status_code == 400 and r.json()["error"]["param"] == "n" and "n=1" in r.json()["error"]["message"]
    r = await apps.user.get("/v1/nothing-here")
    assert r.status_code == 404 and set(r.json()["error"]) == {"message", "type", "code", "param"}
    r = await apps.user.post("/v1/chat/completions", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    # a model that is no string is named as such (the client did send one: not "is required")
    for path in ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/audio/speech"):
        for model, kind in ((5, "a number"), ([aid], "an array"), ({"id": aid}, "an object"), (True, "a boolean")):
            r = await apps.user.post(path, json={**chat_body(aid), "model": model, "input": "hi"})
            assert r.status_code == 400, (path, model, r.text)
            err = r.json()["error"]
            assert err["param"] == "model" and f"must be a string (an agent or flow id or name), got {kind}" in err["message"], (path, r.text)
        r = await apps.user.post(path, json={**chat_body(aid), "model": None, "input": "hi"})
        assert r.status_code == 400 and "is required" in r.json()["error"]["message"], (path, r.text)
    for field, value, kind in (("appName", 5, "a number"), ("userId", ["u"], "an array")):
        body: dict[str, object] = {"appName": aid, "userId": "u", "newMessage": {"parts": [{"text": "x"}]}, field: value}
        r = await apps.user.post("/api/v1/agent/run", json=body)
        assert r.status_code == 400 and r.json()["field"] == field, r.text
        assert r.json()["error"] == f"{field}: must be a string, got {kind}", r.text
    # the run API keeps magec's shape
    r = await apps.user.post("/api/v1/agent/run", json={"appName": "nope", "userId": "u", "newMessage": {"parts": [{"text": "x"}]}})
    assert r.status_code == 404 and isinstance(r.json()["error"], str) and r.json()["code"] == "not_found"


async def test_sdk_reads_message_and_rate_limit(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    with pytest.raises(openai.NotFoundError) as nf:
        await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert nf.value.code == "model_not_found" and "'nope' does not exist" in nf.value.message
    openai_x.script(Reply.fail(429, "quota", headers={"Retry-After": "3600"}))
    with pytest.raises(openai.RateLimitError) as rl:
        await client.chat.completions.create(model=aid, messages=[{"role": "user", "content": "x"}])
    assert rl.value.response.headers["retry-after"] == "3600" and rl.value.code == "rate_limit"
    assert rl.value.type == "rate_limit_error"
    # a stream that fails before any output is an HTTP error too (as OpenAI answers): the SDK raises
    # at create(), with the status and Retry-After, instead of handing out a stream that breaks
    openai_x.script(Reply.fail(429, "quota", headers={"Retry-After": "3600"}))
    with pytest.raises(openai.RateLimitError) as streamed:
        await client.chat.completions.create(model=aid, messages=[{"role": "user", "content": "x"}], stream=True)
    assert "quota" in streamed.value.message and streamed.value.response.headers["retry-after"] == "3600"


async def test_auth_and_unavailable_agent(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    broken = (await apps.admin.post(f"{A}/agents", json={"name": "Broken", "llm": {"backend": "", "model": "m"}})).json()
    r = await apps.user.post("/v1/chat/completions", json=chat_body(broken["id"]))
    assert r.status_code == 503 and r.json()["error"]["type"] == "server_error"
    assert r.json()["error"]["code"] == "agent_unavailable"
    c = (await apps.admin.post(f"{A}/clients", json={"name": "Bot", "allowedAgents": [aid]})).json()
    r = await apps.user.post("/v1/chat/completions", json=chat_body(aid))
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        await sdk(apps, "mgc_wrong").models.list()
    good = sdk(apps, c["token"])
    assert (await good.models.retrieve("Helper")).magec_id == aid  # type: ignore[attr-defined]
    with pytest.raises(openai.NotFoundError) as outside:  # a model outside the client's list does not exist for it
        await good.models.retrieve("Broken")
    assert "allowed no agents" not in outside.value.message
    # a new client nobody gave an agent yet: an empty list, and the 404 says why (it said only
    # "does not exist", for every name, and the model list was simply empty)
    bare = sdk(apps, (await apps.admin.post(f"{A}/clients", json={"name": "New app"})).json()["token"])
    assert (await bare.models.list()).data == []
    for call in (bare.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "hi"}]),
                 bare.responses.create(model="Helper", input="hi"), bare.models.retrieve("Helper")):
        with pytest.raises(openai.NotFoundError) as none:
            await call
        assert "This client is allowed no agents or flows yet" in none.value.message, none.value.message
        assert none.value.code == "model_not_found"  # type: ignore[attr-defined]


# ----- messages ------------------------------------------------------------------------------------

async def test_system_and_developer_are_instructions(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x, systemPrompt="You are Helper.")
    client = sdk(sqlite_apps)
    for headers in ({}, {"X-Session-Id": "sys-1"}):
        await client.chat.completions.create(model=aid, extra_headers=headers, messages=[
            {"role": "system", "content": "be terse"}, {"role": "developer", "content": "answer in Spanish"},
            {"role": "user", "content": "with system"}])
        sent = openai_x.requests_to("chat")[-1].json["messages"]
        assert sent[0]["role"] == "system" and sent[0]["content"].startswith("You are Helper.")
        assert "be terse" in sent[0]["content"] and "answer in Spanish" in sent[0]["content"]
        assert sent[-1] == {"role": "user", "content": "with system"}  # never glued to the user text
    # the instructions were for that turn: the next session turn has only the agent's prompt
    await client.chat.completions.create(model=aid, extra_headers={"X-Session-Id": "sys-1"},
                                         messages=[{"role": "user", "content": "again"}])
    assert "be terse" not in openai_x.requests_to("chat")[-1].json["messages"][0]["content"]


async def test_generation_parameters_reach_the_provider(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    await client.chat.completions.create(
        model=aid, messages=[{"role": "user", "content": "p"}], temperature=0.2, top_p=0.5, max_tokens=33,
        stop=["END"], seed=7, presence_penalty=0.1, frequency_penalty=0.3,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}})
    sent = openai_x.requests_to("chat")[-1].json
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["stop"], sent["seed"]) == (0.2, 0.5, 33, ["END"], 7)
    assert (sent["presence_penalty"], sent["frequency_penalty"]) == (0.1, 0.3)
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["properties"] == schema["properties"]
    await client.chat.completions.create(model=aid, messages=[{"role": "user", "content": "q"}],
                                         max_completion_tokens=9, response_format={"type": "json_object"})
    sent = openai_x.requests_to("chat")[-1].json
    assert sent["max_tokens"] == 9 and sent["response_format"] == {"type": "json_object"}
    await client.chat.completions.create(model=aid, messages=[{"role": "user", "content": "r"}])
    sent = openai_x.requests_to("chat")[-1].json  # nothing sent: nothing overridden (the next request is clean)
    assert not {"temperature", "max_tokens", "response_format", "seed"} & set(sent)
    openai_x.script(Reply(text="cut", finish_reason="length"))
    reply = await client.chat.completions.create(model=aid, messages=[{"role": "user", "content": "s"}], max_tokens=1)
    assert reply.choices[0].finish_reason == "length"


# ----- client tools ------------------------------------------------------------------------------

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "weather of a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


async def test_client_tool_round_trip_stateless(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    ask = [{"role": "user", "content": 'call get_weather {"city": "Tenerife"}'}]
    first = await client.chat.completions.create(model=aid, messages=ask, tools=[WEATHER])  # type: ignore[list-item]
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"city": "Tenerife"}'
    offered = openai_x.requests_to("chat")[-1].json["tools"]
    assert [t["function"]["name"] for t in offered] == ["get_weather"]
    assert len(openai_x.calls()) == 1  # the call was not executed server-side: no second model call
    follow = [*ask, choice.message.model_dump(exclude_none=True),
              {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24C"}]
    second = await client.chat.completions.create(model=aid, messages=follow, tools=[WEATHER])  # type: ignore[arg-type]
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "openai-x says: tool result sunny, 24C"
    sent = openai_x.requests_to("chat")[-1].json["messages"]
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "tool"]
    assert sent[-1]["tool_call_id"] == call.id


async def test_client_tool_round_trip_session_and_stream(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    h = {"X-Session-Id": "tools-1"}
    stream = await client.chat.completions.create(
        model=aid, stream=True, tools=[WEATHER], extra_headers=h,  # type: ignore[list-item]
        messages=[{"role": "user", "content": 'call get_weather {"city": "Lima"}'}], tool_choice="required")
    chunks = [c async for c in stream]
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas and deltas[0].function and deltas[0].function.name == "get_weather"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert openai_x.requests_to("chat")[-1].json["tool_choice"] == "required"
    # a session call sends only the tool answer; its name comes from the stored call
    reply = await client.chat.completions.create(model=aid, extra_headers=h, tools=[WEATHER],  # type: ignore[list-item]
                                                 messages=[{"role": "tool", "tool_call_id": deltas[0].id or "", "content": "rain"}])
    assert reply.choices[0].message.content == "openai-x says: tool result rain"
    assert "tool_choice" not in openai_x.requests_to("chat")[-1].json  # tool_choice was for the first call
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model=aid, extra_headers=h,
                                             messages=[{"role": "tool", "tool_call_id": "call_nope", "content": "x"}])
    assert bad.value.param == "messages[0].tool_call_id"  # type: ignore[attr-defined]


# ----- /v1/responses ---------------------------------------------------------------------------------

async def test_responses_create_continue_retrieve_delete(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x, systemPrompt="You are Helper.")
    client = sdk(sqlite_apps)
    first = await client.responses.create(model="Helper", input="my name is Ada", instructions="be kind")
    assert first.output_text == "openai-x says: my name is Ada" and first.model == "Helper"
    assert first.status == "completed" and first.usage is not None and first.usage.total_tokens > 0
    assert "be kind" in openai_x.requests_to("chat")[-1].json["messages"][0]["content"]
    second = await client.responses.create(model="Helper", input="what is my name?", previous_response_id=first.id)
    assert second.output_text == "openai-x says: what is my name?"
    sent = [m["content"] for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] != "system"]
    assert sent == ["my name is Ada", "openai-x says: my name is Ada", "what is my name?"]
    assert "be kind" not in openai_x.requests_to("chat")[-1].json["messages"][0]["content"]  # per turn
    got = await client.responses.retrieve(first.id)
    assert got.id == first.id and got.output_text == first.output_text
    assert (await client.responses.delete(first.id)) is None
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(first.id)
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model="Helper", input="x", previous_response_id="resp_nope")
    assert bad.value.param == "previous_response_id"  # type: ignore[attr-defined]
    # store=false: stateless, nothing to retrieve
    once = await client.responses.create(model=aid, input="once", store=False)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(once.id)


async def test_responses_stream_and_function_tools(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    stream = await client.responses.create(model=aid, input="stream me please", stream=True)
    kinds, deltas, final = [], [], None
    async for ev in stream:
        kinds.append(ev.type)
        if ev.type == "response.output_text.delta":
            deltas.append(ev.delta)
        if ev.type == "response.completed":
            final = ev.response
    # tokens that arrive together leave as one delta (the token relay); paced ones: test_token_relay
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed" and len(deltas) >= 1
    assert "".join(deltas) == "openai-x says: stream me please" and final is not None
    assert final.output_text == "openai-x says: stream me please"
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    ask = [{"role": "user", "content": 'call get_weather {"city": "Oslo"}'}]
    r1 = await client.responses.create(model=aid, input=ask, tools=[tool])  # type: ignore[list-item]
    calls = [o for o in r1.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"city": "Oslo"}
    r2 = await client.responses.create(model=aid, previous_response_id=r1.id, tools=[tool],  # type: ignore[list-item]
                                       input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "snow"}])
    assert r2.output_text == "openai-x says: tool result snow"
    # stateless with the whole history as items
    r3 = await client.responses.create(model=aid, store=False, tools=[tool], input=[  # type: ignore[list-item]
        *ask, {"type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": "call_9", "output": "fog"}])
    assert r3.output_text == "openai-x says: tool result fog"


# ----- embeddings and audio: model = an agent ----------------------------------------------------------

async def test_embeddings_and_audio_through_an_agent(sqlite_apps: Apps, openai_y: FakeServer) -> None:
    apps = sqlite_apps
    b = (await apps.admin.post(f"{A}/backends", json={"name": "y", "type": "openai", "url": openai_y.url})).json()
    agent = (await apps.admin.post(f"{A}/agents", json={
        "name": "Voice", "llm": {"backend": b["id"], "model": "m"},
        "transcription": {"backend": b["id"], "model": "whisper-1"},
        "tts": {"backend": b["id"], "model": "tts-1", "voice": "alloy"}})).json()
    client = sdk(apps)
    with pytest.raises(openai.BadRequestError) as none:
        await client.embeddings.create(model="Voice", input="x")
    assert none.value.param == "model"  # type: ignore[attr-defined]
    mem = (await apps.admin.post(f"{A}/memory", json={"name": "LT", "type": "sqlite", "category": "longterm",
                                                        "embedding": {"backend": b["id"], "model": "emb-1"}})).json()
    assert (await apps.admin.put(f"{A}/settings", json={"longTermProvider": mem["id"]})).status_code == 200
    got = await client.embeddings.create(model="Voice", input=["hello", "world"])  # the SDK asks for base64
    assert got.model == "Voice" and len(got.data) == 2 and len(got.data[0].embedding) == 8
    from magec.testing.fake_providers import deterministic_vector
    assert got.data[1].embedding == pytest.approx(deterministic_vector("world", 8), rel=1e-5)
    assert openai_y.provider is not None and openai_y.provider.requests_to("embeddings")[-1].json["model"] == "emb-1"
    plain = await apps.user.post("/v1/embeddings", json={"model": agent["id"], "input": "hi", "encoding_format": "float"})
    assert plain.json()["data"][0]["embedding"] == pytest.approx(deterministic_vector("hi", 8))
    # dimensions: the model's own size is fine; another is refused, never silently ignored
    assert len((await client.embeddings.create(model="Voice", input="hi", dimensions=8)).data[0].embedding) == 8
    for bad in (4, 0, "8"):
        r = await apps.user.post("/v1/embeddings", json={"model": "Voice", "input": "hi", "dimensions": bad})
        assert r.status_code == 400 and r.json()["error"]["param"] == "dimensions", r.text
    # at most 2,048 inputs a request (OpenAI's limit), refused before the provider is asked
    assert len((await client.embeddings.create(model="Voice", input=["w"] * 2048)).data) == 2048
    asked = len(openai_y.provider.requests_to("embeddings"))
    r = await apps.user.post("/v1/embeddings", json={"model": "Voice", "input": ["w"] * 2049})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input" and "2048" in r.text, r.text
    assert len(openai_y.provider.requests_to("embeddings")) == asked
    with pytest.raises(openai.NotFoundError):
        await client.embeddings.create(model="nobody", input="x")
    # token ids, as LangChain's OpenAIEmbeddings sends by default: the 400 says what to change
    with pytest.raises(openai.BadRequestError) as tokens:
        await client.embeddings.create(model="Voice", input=[[9906, 1917]])
    assert tokens.value.param == "input" and "check_embedding_ctx_length=False" in tokens.value.message  # type: ignore[attr-defined]
    speech = await client.audio.speech.create(model="Voice", input="hola mundo", voice="nova", response_format="wav")
    audio = speech.content
    assert openai_y.provider is not None and openai_y.provider.requests_to("tts")[-1].json["voice"] == "alloy"  # the agent's own voice
    text = await client.audio.transcriptions.create(model="Voice", file=("a.wav", audio, "audio/wav"))
    assert text.text == "hola mundo"
    assert openai_y.provider is not None and openai_y.provider.requests_to("stt")[-1].form["model"] == "whisper-1"
    raw = await client.audio.transcriptions.create(model=agent["id"], file=("a.wav", audio, "audio/wav"),
                                                   response_format="text")
    assert str(raw).strip() == "hola mundo"


@pytest.mark.parametrize("vendor", ["gemini", "anthropic"])
async def test_structured_output_other_vendors(sqlite_apps: Apps, vendor: str, request: pytest.FixtureRequest) -> None:
    fake: FakeServer = request.getfixturevalue(f"{vendor}_fake")
    _, aid = await make_agent(sqlite_apps, fake, btype=vendor, key="k")
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    r = await sqlite_apps.user.post("/v1/chat/completions", json={
        "model": aid, "messages": [{"role": "user", "content": '{"city": "Nairobi"}'}], "temperature": 0.4,
        "max_tokens": 50, "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}}})
    assert r.status_code == 200, r.text
    sent = fake.requests[-1].json
    if vendor == "gemini":  # native: the schema in generationConfig, so the fake answers JSON
        cfg = sent["generationConfig"]
        assert cfg["responseMimeType"] == "application/json" and cfg["responseJsonSchema"]["properties"] == schema["properties"]
        assert (cfg["temperature"], cfg["maxOutputTokens"]) == (0.4, 50)
        assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"city": "Nairobi"}
    else:  # no native structured output in the adapter: the schema is stated in the system prompt
        assert '"city"' in sent["system"] and "JSON schema" in sent["system"]
        assert (sent["temperature"], sent["max_tokens"]) == (0.4, 50)


async def test_client_tool_named_like_an_agent_tool_is_refused(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """Name clashes: the agent's own tools are never shadowed; the request is a 400 naming the tool."""
    from google.adk.models import LlmRequest
    from google.adk.tools import FunctionTool
    from google.genai import types

    from magec.agents import request_overrides as ro
    from magec.errors import ValidationError

    def search_memory(query: str) -> str:
        """The agent's own tool."""
        return query

    req = LlmRequest()
    req.append_tools([FunctionTool(search_memory)])
    clash = ro.Overrides(tools=[types.FunctionDeclaration(name="search_memory")])
    with ro.applied(clash), pytest.raises(ValidationError) as err:
        ro.before_model(None, req)
    assert err.value.field == "tools" and "'search_memory'" in err.value.message
    fine = ro.Overrides(tools=[types.FunctionDeclaration(name="get_weather")], tool_choice="required")
    with ro.applied(fine):
        ro.before_model(None, req)
        assert set(req.tools_dict) == {"search_memory", "get_weather"} and req.tools_dict["get_weather"].is_long_running
        assert req.config.tool_config is not None
        second = LlmRequest()
        ro.before_model(None, second)  # tool_choice constrains the first model call only
        assert second.config.tool_config is None
    assert ro.current() is None
    # and over HTTP: two client tools with one name
    _, aid = await make_agent(sqlite_apps, openai_x)
    r = await sqlite_apps.user.post("/v1/chat/completions", json={
        "model": aid, "messages": [{"role": "user", "content": "x"}], "tools": [WEATHER, WEATHER]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools[1].function.name"


async def test_server_side_tool_events_extension(sqlite_apps: Apps, openai_y: FakeServer) -> None:
    """Agent-side tools run server-side; ``magec_tool_events: true`` shows them (else invisible)."""
    apps = sqlite_apps
    b = (await apps.admin.post(f"{A}/backends", json={"name": "y", "type": "openai", "url": openai_y.url})).json()
    mem = (await apps.admin.post(f"{A}/memory", json={"name": "LT", "type": "sqlite", "category": "longterm",
                                                        "embedding": {"backend": b["id"], "model": "emb-1"}})).json()
    assert (await apps.admin.put(f"{A}/settings", json={"longTermProvider": mem["id"]})).status_code == 200
    agent = (await apps.admin.post(f"{A}/agents", json={"name": "Keeper", "llm": {"backend": b["id"], "model": "m"}})).json()
    ask = {"model": "Keeper", "messages": [{"role": "user", "content":
                                            'call save_to_memory {"content": "Ada likes tea", "category": "preferences"}'}]}
    plain = (await apps.user.post("/v1/chat/completions", json=ask)).json()
    assert "magec_tool_events" not in plain["choices"][0]["message"]
    assert plain["choices"][0]["finish_reason"] == "stop"  # the server-side call did not end the turn
    shown = (await apps.user.post("/v1/chat/completions", json={**ask, "magec_tool_events": True})).json()
    events = shown["choices"][0]["message"]["magec_tool_events"]
    assert [e["name"] for e in events] == ["save_to_memory"] and events[0]["result"]
    assert json.loads(events[0]["arguments"])["content"] == "Ada likes tea"
    async with apps.user.stream("POST", "/v1/chat/completions",
                                json={**ask, "stream": True, "magec_tool_events": True}) as r:
        lines = [json.loads(line[6:]) async for line in r.aiter_lines() if line.startswith("data: {")]
    streamed = [c["choices"][0]["delta"]["magec_tool_event"] for c in lines
                if c["choices"] and "magec_tool_event" in c["choices"][0]["delta"]]
    assert [e["name"] for e in streamed] == ["save_to_memory"] and agent["id"]


async def test_images_and_audio_parts_reach_the_backend(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    import base64

    _, aid = await make_agent(sqlite_apps, openai_x)
    png, wav = base64.b64encode(b"\x89PNG fake").decode(), base64.b64encode(b"RIFF fake").decode()
    r = await sqlite_apps.user.post("/v1/chat/completions", json={"model": aid, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "input_audio", "input_audio": {"data": wav, "format": "wav"}}]}]})
    assert r.status_code == 200, r.text
    parts = openai_x.requests_to("chat")[-1].json["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "input_audio"]
    assert parts[1]["image_url"]["url"] == f"data:image/png;base64,{png}"
    assert parts[2]["input_audio"] == {"data": wav, "format": "wav"}
    r = await sqlite_apps.user.post("/v1/chat/completions", json={"model": aid, "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": wav, "format": "flac"}}]}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages[0].content[0].input_audio.format"


async def test_responses_failures(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    openai_x.script(Reply.fail(429, "quota", headers={"Retry-After": "3600"}), route="chat")
    with pytest.raises(openai.RateLimitError) as rl:
        await client.responses.create(model=aid, input="x")
    assert rl.value.response.headers["retry-after"] == "3600"
    openai_x.script(Reply.fail(429, "quota", headers={"Retry-After": "3600"}), route="chat")
    kinds, failed = [], None
    async for ev in await client.responses.create(model=aid, input="y", stream=True):
        kinds.append(ev.type)
        if ev.type == "response.failed":
            failed = ev.response
    assert kinds[-1] == "response.failed" and "response.completed" not in kinds
    assert failed is not None and failed.status == "failed" and failed.error is not None
    assert failed.error.code == "rate_limit" and "quota" in failed.error.message


async def test_long_stateless_history_arrives_whole_and_in_order(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """A stateless call with a long history (4,000 messages) is seeded in one linear step: every
    message reaches the provider, in order, and nothing of it is left behind afterwards."""
    _, aid = await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    history: list[dict[str, str]] = []
    for i in range(2000):
        history += [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
    reply = await client.chat.completions.create(model=aid, messages=[*history, {"role": "user", "content": "last"}])
    assert reply.choices[0].message.content == "openai-x says: last"
    sent = [m["content"] for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] != "system"]
    assert sent == [m["content"] for m in history] + ["last"]
    # a second stateless call carries only its own history (the first one's session is gone)
    await client.chat.completions.create(model=aid, messages=[{"role": "user", "content": "fresh"}])
    assert [m["content"] for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] != "system"] == ["fresh"]


async def test_sdk_does_not_retry_what_stays_unavailable(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """A voice route of an agent with no voice, or an agent that cannot be built, answers 503
    ``agent_unavailable``: OpenAI's SDKs retried it twice (seconds of backoff, three requests) for
    an answer that stays the same until an admin changes the agent. It says ``x-should-retry:
    false``: one request, the error at once."""
    await make_agent(sqlite_apps, openai_x, name="Mute")  # no TTS configured
    await sqlite_apps.admin.post(f"{A}/agents", json={"name": "Brainless"})  # no LLM backend: invalid
    sent: list[str] = []

    async def count(request: httpx2.Request) -> None:
        sent.append(request.url.path)

    transport = httpx2.ASGITransport(app=user_app(sqlite_apps.ctx))
    client = openai.AsyncOpenAI(base_url="http://user/v1", api_key="none",  # the SDK's default retries
                                http_client=httpx2.AsyncClient(transport=transport, event_hooks={"request": [count]}))
    with pytest.raises(openai.InternalServerError) as caught:
        await client.audio.speech.create(model="Mute", input="hola", voice="nova")
    assert caught.value.status_code == 503 and "speech not configured" in caught.value.message
    assert sent == ["/v1/audio/speech"]
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model="Brainless", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503 and "not configured" in caught.value.message
    assert sent == ["/v1/audio/speech", "/v1/chat/completions"]


async def test_responses_conversation_is_a_session_the_client_owns(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """``conversation`` (OpenAI's Conversations: the SDK's ``conversation="conv_…"``) was silently
    ignored: every call started afresh and the agent forgot what it was told. It names a stored
    session of this client and ``user``, created by the first response and continued by the next
    (an id or ``{"id"}``, ``store: false`` too); the response echoes it; another user's same id is
    another conversation; with ``previous_response_id`` it is a 400 naming it, as at OpenAI."""
    await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)

    def history() -> list[Any]:
        return [m["content"] for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] != "system"]

    first = await client.responses.create(model="Helper", input="my name is Ada", conversation="conv_ada")
    assert first.model_dump()["conversation"] == {"id": "conv_ada"}
    await client.responses.create(model="Helper", input="what is my name?", conversation={"id": "conv_ada"})
    assert history() == ["my name is Ada", "openai-x says: my name is Ada", "what is my name?"]
    await client.responses.create(model="Helper", input="and again?", conversation="conv_ada", store=False)
    assert history()[0] == "my name is Ada" and history()[-1] == "and again?"
    # the same id for another end user is that user's own (new) conversation
    await client.responses.create(model="Helper", input="who am I?", conversation="conv_ada", user="bob")
    assert history() == ["who am I?"]
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model="Helper", input="x", conversation="conv_ada", previous_response_id=first.id)
    assert bad.value.param == "conversation"  # type: ignore[attr-defined]
    for wrong in (123, "", {"id": 5}, "c" * 1000):
        with pytest.raises(openai.BadRequestError) as bad:
            await client.responses.create(model="Helper", input="x", extra_body={"conversation": wrong})
        assert bad.value.param == "conversation", wrong  # type: ignore[attr-defined]


async def test_logit_bias_is_refused_naming_it_not_ignored(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """``logit_bias`` was dropped without a word: a client banning a token believed it banned. Its
    keys are one tokenizer's token ids and the agent picks the model, so a bias is a 400 naming
    ``logit_bias`` (chat and responses); an empty map, which changes nothing, is accepted."""
    await make_agent(sqlite_apps, openai_x)
    client = sdk(sqlite_apps)
    asked = len(openai_x.requests_to("chat"))
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "hi"}],
                                             logit_bias={"50256": -100})
    assert bad.value.param == "logit_bias" and "token ids" in bad.value.message  # type: ignore[attr-defined]
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model="Helper", input="hi", extra_body={"logit_bias": {"50256": -100}})
    assert bad.value.param == "logit_bias"  # type: ignore[attr-defined]
    assert len(openai_x.requests_to("chat")) == asked  # refused before any model call
    reply = await client.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "hi"}],
                                                 logit_bias={})
    assert reply.choices[0].message.content == "openai-x says: hi"
