"""The openai Python SDK against ``magec serve``: chat, stream, tools loop, parse, responses, errors."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from pydantic import BaseModel

from magec.testing.fake_providers import Reply
from tests.compat.conftest import STREAM_PING, A, Magec


class City(BaseModel):
    city: str
    country: str


def client(m: Magec) -> openai.OpenAI:
    return openai.OpenAI(base_url=m.v1, api_key="none", max_retries=0)


WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def test_chat_stream_and_model_name(magec: Magec) -> None:
    c = client(magec)
    reply = c.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "hola"}])
    assert reply.choices[0].message.content == "compat says: hola" and reply.model == "Helper"
    pieces = [ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="Helper", messages=[{"role": "user", "content": "a streamed answer"}], stream=True) if ch.choices]
    assert "".join(pieces) == "compat says: a streamed answer"
    card = c.models.retrieve("Helper")
    assert card.id == f"helper-{magec.agent_id.replace('-', '')[:8]}" and card.magec_id == magec.agent_id  # type: ignore[attr-defined]


def test_models_list_readable_ids_that_survive_a_rename(magec: Magec) -> None:
    """A chat UI lists models by ``id`` and stores it with each chat (LibreChat, Continue,
    ``llm``): the id reads like the agent's name, and after the admin renames the agent the
    stored id still reaches it, while the list shows the new name."""
    c = client(magec)
    admin = httpx.Client(base_url=magec.server.admin_url + A, timeout=30)
    backend = admin.get(f"/agents/{magec.agent_id}").json()["llm"]
    agent = admin.post("/agents", json={"name": "Research Bot", "llm": backend}).json()
    listed = {m.id: m for m in c.models.list()}
    stored = f"research-bot-{agent['id'].replace('-', '')[:8]}"
    assert stored in listed and listed[stored].name == "Research Bot"  # type: ignore[attr-defined]
    assert all(len(m.id) < 40 for m in listed.values())  # no bare UUIDs in a model picker
    reply = c.chat.completions.create(model=stored, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "compat says: hi" and reply.model == "Research Bot"
    assert admin.put(f"/agents/{agent['id']}", json={**agent, "name": "Scholar"}).status_code == 200
    renamed = f"scholar-{agent['id'].replace('-', '')[:8]}"
    assert renamed in {m.id for m in c.models.list()}
    again = c.chat.completions.create(model=stored, messages=[{"role": "user", "content": "still you?"}])
    assert again.model == "Scholar" and c.models.retrieve(stored).id == renamed
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="scholar-00000000", messages=[{"role": "user", "content": "hi"}])
    admin.delete(f"/agents/{agent['id']}")
    accented = admin.post("/agents", json={"name": "Révision Ñandú", "llm": backend}).json()
    assert f"revision-nandu-{accented['id'].replace('-', '')[:8]}" in {m.id for m in c.models.list()}
    admin.delete(f"/agents/{accented['id']}")


def test_tools_loop(magec: Magec) -> None:
    c = client(magec)
    messages: list[dict[str, object]] = [{"role": "user", "content": 'call get_weather {"city": "Paris"}'}]
    first = c.chat.completions.create(model="Helper", messages=messages, tools=[WEATHER])  # type: ignore[arg-type,list-item]
    assert first.choices[0].finish_reason == "tool_calls"
    call = (first.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    second = c.chat.completions.create(model="Helper", messages=messages, tools=[WEATHER])  # type: ignore[arg-type,list-item]
    assert second.choices[0].message.content == "compat says: tool result sunny"


def test_a_tool_name_providers_refuse_is_a_400_naming_it(magec: Magec) -> None:
    """A client tool whose name OpenAI itself would refuse (a space, a dot, 65 characters) is the
    client's mistake, named, before any model is asked: a provider refused it mid-turn."""
    c = client(magec)
    asked = len(magec.fake.requests)
    for name in ("get weather", "weather.get", "x" * 65, ""):
        tool = {"type": "function", "function": {**WEATHER["function"], "name": name}}  # type: ignore[dict-item]
        with pytest.raises(openai.BadRequestError) as err:
            c.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "hi"}],
                                      tools=[WEATHER, tool])  # type: ignore[list-item]
        assert err.value.param == "tools[1].function.name", (name, err.value.body)
        with pytest.raises(openai.BadRequestError) as err:
            c.responses.create(model="Helper", input="hi", tools=[{"type": "function", "name": name,  # type: ignore[list-item]
                                                                   "parameters": {"type": "object"}}])
        assert err.value.param == "tools[0].name", (name, err.value.body)
    assert len(magec.fake.requests) == asked
    ok = {"type": "function", "function": {**WEATHER["function"], "name": "Get-Weather_2"}}  # type: ignore[dict-item]
    reply = c.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "hi"}], tools=[ok])  # type: ignore[list-item]
    assert reply.choices[0].message.content == "compat says: hi"


def test_parse_structured_output(magec: Magec) -> None:
    c = client(magec)
    parsed = c.chat.completions.parse(model="Helper", response_format=City, messages=[
        {"role": "user", "content": 'where is the Eiffel tower? {"city": "Paris", "country": "France"}'}])
    assert parsed.choices[0].message.parsed == City(city="Paris", country="France")
    sent = magec.fake.requests[-1].json["response_format"]
    assert sent["type"] == "json_schema" and set(sent["json_schema"]["schema"]["properties"]) == {"city", "country"}
    resp = c.responses.parse(model="Helper", text_format=City, input='{"city": "Rome", "country": "Italy"}')
    assert resp.output_parsed == City(city="Rome", country="Italy")


def test_responses_api_and_previous_response(magec: Magec) -> None:
    c = client(magec)
    first = c.responses.create(model="Helper", input="I am Ada", instructions="be brief")
    assert first.output_text == "compat says: I am Ada"
    second = c.responses.create(model="Helper", input="who am I?", previous_response_id=first.id)
    history = [m["content"] for m in magec.fake.requests[-1].json["messages"] if m["role"] != "system"]
    assert history == ["I am Ada", "compat says: I am Ada", "who am I?"] and second.output_text
    events = [e.type for e in c.responses.create(model="Helper", input="stream", stream=True)]
    assert events[0] == "response.created" and "response.output_text.delta" in events
    assert events[-1] == "response.completed"


def test_error_messages(magec: Magec) -> None:
    c = client(magec)
    with pytest.raises(openai.NotFoundError) as nf:
        c.chat.completions.create(model="Nope", messages=[{"role": "user", "content": "x"}])
    # as against OpenAI: the SDK prints the status and error.message
    assert nf.value.message == "Error code: 404 - The model 'Nope' does not exist or you do not have access to it."
    assert nf.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        c.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "x"}], n=3)
    assert "n=1" in bad.value.message and bad.value.param == "n"  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["agent", "flow"])
def test_a_silent_turn_opens_its_stream_with_keep_alive_pings(magec: Magec, kind: str) -> None:
    """The model says nothing for longer than magec's keep-alive interval (``server.streamPing``, 15 s
    by default, 3 s on this server): the stream opens
    with a ``: ping`` comment before any output — a proxy in front sees a live connection — and
    then carries the whole answer. The same for a flow whose step is silent."""
    model = flow = "Helper"
    if kind == "flow":  # removed after: the other tests see this server's apps as they were
        r = httpx.post(f"{magec.server.admin_url}{A}/flows", timeout=30, json={"name": "Silent step", "root": {
            "type": "sequential", "steps": [{"type": "agent", "agentId": magec.agent_id, "responseAgent": True}]}})
        assert r.status_code == 201, r.text
        model = flow = r.json()["id"]
    try:
        magec.fake.script(Reply(text="compat says: worth the wait", delay=STREAM_PING + 1.5), route="chat")
        body = {"model": model, "messages": [{"role": "user", "content": "think first"}], "stream": True}
        with httpx.Client(timeout=60) as http, http.stream("POST", f"{magec.v1}/chat/completions", json=body) as r:
            assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
            raw = b"".join(r.iter_raw())
    finally:
        if kind == "flow":
            assert httpx.delete(f"{magec.server.admin_url}{A}/flows/{flow}", timeout=30).status_code < 300
    assert raw.startswith(b": ping\n\n") and raw.endswith(b"data: [DONE]\n\n")
    data = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: {")]
    assert "".join(d["choices"][0]["delta"].get("content") or "" for d in data if d["choices"]) == (
        "compat says: worth the wait"
    )


def test_legacy_completions_say_to_use_chat_completions(magec: Magec) -> None:
    """``client.completions.create`` (OpenAI's legacy text completions, what older tools and
    autocomplete plugins call) was a bare "no route" 404. An agent is a chat model: the SDK raises
    ``NotFoundError`` with OpenAI's own wording for a chat model there, naming what to use instead,
    streamed or not; the model is still checked first, and no turn runs."""
    c = client(magec)
    turns = len(magec.fake.requests_to("chat"))
    for stream in (False, True):
        with pytest.raises(openai.NotFoundError) as raised:
            c.completions.create(model="Helper", prompt="Once upon a time", max_tokens=16, stream=stream)
        err = raised.value.body
        assert isinstance(err, dict), err
        assert err["param"] == "model" and err["code"] == "chat_model_only" and err["type"] == "invalid_request_error"
        assert "'Helper' is a magec agent (a chat model)" in err["message"]
        assert "Did you mean to use v1/chat/completions?" in err["message"]
    with pytest.raises(openai.NotFoundError) as raised:
        c.completions.create(model="no-such-agent", prompt="x")
    assert raised.value.code == "model_not_found"
    assert len(magec.fake.requests_to("chat")) == turns  # nothing was run
