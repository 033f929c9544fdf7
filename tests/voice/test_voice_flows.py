"""A flow id in the voice path: first agent breadth-first with the role, or ?spokesperson=."""

from __future__ import annotations

from magec.resources.models import FlowStep
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, fake_audio
from magec.voice.resolve import flow_agent_ids
from tests.voice.helpers import OPENAI_KEY, A, V, agent, backend

WAV = ("a.wav", b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00"
       b"\x00\x7d\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00" + b"\x00\x01" * 100, "audio/wav")


def step(agent_id: str) -> dict[str, str]:
    return {"type": "agent", "agentId": agent_id}


def test_breadth_first_order() -> None:
    root = FlowStep.model_validate({"type": "sequential", "steps": [
        step("a"), {"type": "parallel", "steps": [step("c"), {"type": "loop", "maxIterations": 2,
                                                               "steps": [step("e")]}]},
        step("b"), step("a")]})
    assert flow_agent_ids(root) == ["a", "b", "c", "e"]


async def test_flow_voice(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    silent = await agent(apps, "Silent")
    deep = await agent(apps, "Deep", transcription={"backend": bid, "model": "model-deep"},
                       tts={"backend": bid, "model": "tts-deep", "voice": "onyx"})
    shallow = await agent(apps, "Shallow", transcription={"backend": bid, "model": "model-shallow"})
    outsider = await agent(apps, "Outsider", transcription={"backend": bid, "model": "model-out"})
    # depth-first would pick Deep first; breadth-first picks Shallow (depth 1) for STT
    r = await apps.admin.post(f"{A}/flows", json={"name": "Pipeline", "root": {"type": "sequential", "steps": [
        step(silent), {"type": "sequential", "steps": [step(deep)]}, step(shallow)]}})
    assert r.status_code in (200, 201), r.text
    fid = r.json()["id"]
    r = await apps.user.post(f"{V}/{fid}/transcription", files={"file": WAV})
    assert r.status_code == 200, r.text
    assert openai_voice.requests[-1].form["model"] == "model-shallow"
    # TTS: Shallow has none, so Deep (depth 2) speaks
    r = await apps.user.post(f"{V}/{fid}/speech", json={"input": "flow speaks"})
    assert r.status_code == 200 and r.content == fake_audio("flow speaks")
    assert openai_voice.requests[-1].json["model"] == "tts-deep" and openai_voice.requests[-1].json["voice"] == "onyx"
    # the flow by name works as well
    r = await apps.user.post(f"{V}/Pipeline/transcription", files={"file": WAV})
    assert r.status_code == 200
    # spokesperson
    r = await apps.user.post(f"{V}/{fid}/transcription?spokesperson={deep}", files={"file": WAV})
    assert r.status_code == 200 and openai_voice.requests[-1].form["model"] == "model-deep"
    r = await apps.user.post(f"{V}/{fid}/transcription?spokesperson={outsider}", files={"file": WAV})
    assert r.status_code == 400 and r.json()["field"] == "spokesperson"
    r = await apps.user.post(f"{V}/{fid}/speech?spokesperson={shallow}", json={"input": "x"})
    assert r.status_code == 503 and r.json() == {"error": "speech not configured for this agent", "code": "agent_unavailable"}
    r = await apps.user.post(f"{V}/{fid}/speech?spokesperson={silent}", json={"input": "x"})
    assert r.status_code == 503
    # a plain agent with a foreign spokesperson is refused; naming itself is fine
    r = await apps.user.post(f"{V}/{shallow}/transcription?spokesperson={deep}", files={"file": WAV})
    assert r.status_code == 400
    r = await apps.user.post(f"{V}/{shallow}/transcription?spokesperson={shallow}", files={"file": WAV})
    assert r.status_code == 200
    # a flow where nobody has the role
    r = await apps.admin.post(f"{A}/flows", json={"name": "Mute", "root": {"type": "parallel", "steps": [
        step(silent), step(shallow)]}})
    mute = r.json()["id"]
    r = await apps.user.post(f"{V}/{mute}/speech", json={"input": "x"})
    assert r.status_code == 503 and r.json() == {"error": "speech not configured for this agent", "code": "agent_unavailable"}
    # usage is recorded for the agent that spoke, not for the flow
    assert apps.ctx.runtime is not None
    by_agent = {t["agentId"] for t in await apps.ctx.runtime.usage.totals()}
    assert {shallow, deep} <= by_agent and fid not in by_agent


async def test_flow_client_auth(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    member = await agent(apps, "Member", transcription={"backend": bid})
    fid = (await apps.admin.post(f"{A}/flows", json={"name": "F", "root": step(member)})).json()["id"]
    c = (await apps.admin.post(f"{A}/clients", json={"name": "Bot", "allowedAgents": [fid]})).json()
    good = {"Authorization": f"Bearer {c['token']}"}
    r = await apps.user.post(f"{V}/{fid}/transcription", files={"file": WAV}, headers=good)
    assert r.status_code == 200, r.text
    # allowed the flow, not the member agent on its own
    r = await apps.user.post(f"{V}/{member}/transcription", files={"file": WAV}, headers=good)
    assert r.status_code == 403
