"""Fallback chains on the voice roles: speech-to-text and text-to-speech answer from the next link
when the primary cannot (before any audio reached the client), and usage names the one that did."""

from __future__ import annotations

import socket

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.voice.helpers import GEMINI_KEY, OPENAI_KEY, V, agent, backend


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


async def test_stt_and_tts_fall_back(
    sqlite_apps: Apps, openai_voice: FakeServer, gemini_voice: FakeServer, speech_wav: bytes
) -> None:
    apps = sqlite_apps
    dead = await backend(apps, _dead_url(), key=OPENAI_KEY, connectTimeout=1.0, maxAttempts=1)
    ok = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    aid = await agent(
        apps,
        name="Fallback speaker",
        transcription={"backend": dead, "model": "whisper-dead", "fallbacks": [{"backend": ok, "model": "whisper-ok"}]},
        tts={"backend": dead, "model": "tts-dead", "voice": "x",
             "fallbacks": [{"backend": ok, "model": "tts-ok", "voice": "nova"}]},
    )
    r = await apps.user.post(f"{V}/{aid}/transcription", files={"file": ("a.wav", speech_wav, "audio/wav")})
    assert r.status_code == 200, r.text
    assert openai_voice.requests[-1].form["model"] == "whisper-ok"

    r = await apps.user.post(f"{V}/{aid}/speech", json={"input": "hello from the fallback"})
    assert r.status_code == 200, r.text
    assert r.content
    req = openai_voice.requests[-1]
    assert req.json["model"] == "tts-ok" and req.json["voice"] == "nova"

    assert apps.ctx.runtime is not None
    totals = await apps.ctx.runtime.usage.totals(aid)
    assert {(t["kind"], t["backendId"]) for t in totals} == {("stt", ok), ("tts", ok)}


async def test_caller_error_does_not_move_on_and_last_error_wins(
    sqlite_apps: Apps, openai_voice: FakeServer, gemini_voice: FakeServer, speech_wav: bytes
) -> None:
    apps = sqlite_apps
    first = await backend(apps, openai_voice.url, key=OPENAI_KEY, maxAttempts=1)
    second = await backend(apps, gemini_voice.url, btype="gemini", key=GEMINI_KEY, maxAttempts=1)
    aid = await agent(
        apps,
        name="Chain",
        transcription={"backend": first, "fallbacks": [{"backend": second}]},
    )
    # 400 from the primary: the caller's audio is bad for any backend, so no fallback call
    openai_voice.provider.script(Reply.fail(400, "unsupported audio"), route="stt")
    r = await apps.user.post(f"{V}/{aid}/transcription", files={"file": ("a.wav", speech_wav, "audio/wav")})
    assert r.json()["code"] == "bad_request", r.text
    assert gemini_voice.provider.calls() == []
    # both fail: one error, the last link's
    openai_voice.provider.script(Reply.fail(503, "primary overloaded"), route="stt")
    gemini_voice.provider.script(Reply.fail(500, "gemini broke"))
    r = await apps.user.post(f"{V}/{aid}/transcription", files={"file": ("a.wav", speech_wav, "audio/wav")})
    assert r.status_code == 502, r.text
    assert "gemini broke" in r.text
