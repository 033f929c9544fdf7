"""A spent budget stops all of a client's (or an agent's) provider spending, not only turns:
speech-to-text, text-to-speech and embeddings — ``/v1/audio/*`` and ``/v1/embeddings`` through the
official ``openai`` SDK, the run API's voice routes, the admin playground's for an agent — are
refused with the turn's 402 ``budget_exceeded`` and message, and the provider is not called."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from magec.server import user_app
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.costs.helpers import A, agent, auth, backend, client

ROUTES = ("stt", "tts", "embeddings")


def sdk(apps: Apps, key: str) -> openai.AsyncOpenAI:
    transport = httpx2.ASGITransport(app=user_app(apps.ctx))
    return openai.AsyncOpenAI(base_url="http://user/v1", api_key=key, max_retries=0,
                              http_client=httpx2.AsyncClient(transport=transport))


async def voiced(apps: Apps, oai: FakeServer, name: str, **extra: Any) -> str:
    """An agent with speech-to-text and text-to-speech, and the memory embedding model set."""
    b = await backend(apps, oai)
    aid = await agent(apps, b, name, transcription={"backend": b, "model": "whisper-1"},
                      tts={"backend": b, "model": "tts-1", "voice": "alloy"}, **extra)
    mem = await apps.admin.post(f"{A}/memory", json={"name": f"LT {name}", "type": "sqlite", "category": "longterm",
                                                      "embedding": {"backend": b, "model": "emb-1"}})
    assert (await apps.admin.put(f"{A}/settings", json={"longTermProvider": mem.json()["id"]})).status_code == 200
    return aid


def provider_calls(oai: FakeServer) -> int:
    return sum(len(oai.requests_to(route)) for route in ROUTES)  # type: ignore[arg-type]


async def refused_everywhere(apps: Apps, oai: FakeServer, model: str, token: str, wav: bytes, whose: str) -> None:
    """Every speech and embeddings surface answers the budget refusal, and none calls the provider."""
    before = provider_calls(oai)
    api = sdk(apps, token)
    calls = [api.embeddings.create(model=model, input="hello"),
             api.audio.speech.create(model=model, input="hola", voice="alloy", response_format="wav"),
             api.audio.transcriptions.create(model=model, file=("a.wav", wav, "audio/wav"))]
    for call in calls:
        with pytest.raises(openai.APIStatusError) as err:
            await call
        assert err.value.status_code == 402
        body: Any = err.value.body
        assert body["code"] == "budget_exceeded" and whose in body["message"], body
    # the run API's voice routes (the Voice UI's push-to-talk): magec's error shape
    for r in (await apps.user.post(f"/api/v1/voice/{model}/speech", json={"input": "hola"}, headers=auth(token)),
              await apps.user.post(f"/api/v1/voice/{model}/transcription", content=wav,
                                   headers={**auth(token), "Content-Type": "audio/wav"})):
        assert r.status_code == 402, r.text
        assert r.json()["code"] == "budget_exceeded" and whose in r.json()["error"]
    assert provider_calls(oai) == before, "a refused call never reaches the provider"


async def test_spent_client_budget_refuses_speech_and_embeddings(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    aid = await voiced(apps, oai, "Speaker")
    c = await client(apps, "Phone", [aid], budget={"amount": 1000, "unit": "tokens", "period": "day"})
    api = sdk(apps, c["token"])
    # within budget: every call works
    assert len((await api.embeddings.create(model=aid, input="hello")).data) == 1
    wav = (await api.audio.speech.create(model=aid, input="hola", voice="alloy", response_format="wav")).content
    assert (await api.audio.transcriptions.create(model=aid, file=("a.wav", wav, "audio/wav"))).text == "hola"
    # one turn spends the day's 1000 tokens
    await api.chat.completions.create(model=aid, messages=[{"role": "user", "content": "hi"}])
    await refused_everywhere(apps, oai, aid, c["token"], wav, "daily budget of client 'Phone' is spent")
    # another client of the same agent is not limited by this client's budget
    other = await client(apps, "Other", [aid])
    assert (await sdk(apps, other["token"]).audio.transcriptions.create(
        model=aid, file=("a.wav", wav, "audio/wav"))).text == "hola"
    # raised: the very next call is served
    body = {k: v for k, v in c.items() if k != "token"}
    r = await apps.admin.put(f"{A}/clients/{c['id']}", json={**body, "budget": {"amount": 5000, "unit": "tokens",
                                                                                 "period": "day"}})
    assert r.status_code == 200, r.text
    assert len((await api.embeddings.create(model=aid, input="hello")).data) == 1


async def test_spent_agent_budget_refuses_its_speech_and_embeddings(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    aid = await voiced(apps, oai, "Costly", budget={"amount": 1000, "unit": "tokens", "period": "month"})
    c = await client(apps, "Kiosk", [aid])  # no budget of its own
    api = sdk(apps, c["token"])
    wav = (await api.audio.speech.create(model=aid, input="hola", voice="alloy", response_format="wav")).content
    await api.chat.completions.create(model=aid, messages=[{"role": "user", "content": "hi"}])
    await refused_everywhere(apps, oai, aid, c["token"], wav, "monthly budget of agent 'Costly' is spent")
    # the admin playground's voice routes too (an agent's budget limits every caller)
    r = await apps.admin.post(f"{A}/voice/{aid}/speech", json={"input": "hola"})
    assert r.status_code == 402 and r.json()["code"] == "budget_exceeded", r.text
