"""Every error of the voice routes: status, JSON ``{"error": ...}`` shape, redaction."""

from __future__ import annotations

from typing import Any

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.voice.helpers import OPENAI_KEY, A, V, agent, backend

WAV_NOTE = ("a.wav", b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00"
            b"\x00\x7d\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00" + b"\x00\x01" * 800, "audio/wav")


def upload(file: tuple[str, bytes, str] = WAV_NOTE) -> dict[str, Any]:
    return {"files": {"file": file}}


async def test_not_configured_is_503(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    only_tts = await agent(apps, "OnlyTts", tts={"backend": bid})
    only_stt = await agent(apps, "OnlyStt", transcription={"backend": bid})
    r = await apps.user.post(f"{V}/{only_tts}/transcription", **upload())
    assert r.status_code == 503 and r.json() == {"error": "transcription not configured for this agent", "code": "agent_unavailable"}
    r = await apps.user.post(f"{V}/{only_stt}/speech", json={"input": "hi"})
    assert r.status_code == 503 and r.json() == {"error": "speech not configured for this agent", "code": "agent_unavailable"}
    assert openai_voice.calls() == []


async def test_deleted_backend_is_503(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    aid = await agent(apps, transcription={"backend": bid})
    await apps.ctx.store.patch_raw("agents", aid, lambda d: {**d, "transcription": {**d["transcription"],
                                                                                   "backend": "gone"}})
    r = await apps.user.post(f"{V}/{aid}/transcription", **upload())
    assert r.status_code == 503 and "backend not found" in r.json()["error"]


async def test_unknown_agent_is_404(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    r = await apps.user.post(f"{V}/no-such-agent/transcription", **upload())
    assert r.status_code == 404 and "no-such-agent" in r.json()["error"]
    r = await apps.user.post(f"{V}/no-such-agent/speech", json={"input": "hi"})
    assert r.status_code == 404
    r = await apps.admin.post(f"{A}/voice/no-such-agent/speech", json={"input": "hi"})
    assert r.status_code == 404


async def test_anthropic_refused_at_save_time(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    apps = sqlite_apps
    claude = await backend(apps, "http://127.0.0.1:9", btype="anthropic", key="sk-ant-xyz-123456")
    for section in ("transcription", "tts"):
        r = await apps.admin.post(f"{A}/agents", json={"name": f"Bad {section}", section: {"backend": claude}})
        assert r.status_code == 400, r.text
        assert r.json()["field"] == f"{section}.backend"
        assert "anthropic backends have no" in r.json()["error"]


async def test_backend_type_without_role_is_400(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    """A record that bypassed the save-time check (older data): the route still refuses with 400."""
    apps = sqlite_apps
    claude = await backend(apps, "http://127.0.0.1:9", btype="anthropic", key="sk-ant-xyz-123456")
    aid = await agent(apps, "Claude voice")
    await apps.ctx.store.patch_raw("agents", aid, lambda d: {**d, "transcription": {"backend": claude},
                                                             "tts": {"backend": claude}})
    r = await apps.user.post(f"{V}/{aid}/transcription", **upload())
    assert r.status_code == 400 and "anthropic backends have no speech-to-text" in r.json()["error"]
    r = await apps.user.post(f"{V}/{aid}/speech", json={"input": "hi"})
    assert r.status_code == 400 and "anthropic backends have no text-to-speech" in r.json()["error"]


async def test_upload_checks(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    aid = await agent(apps, transcription={"backend": bid})
    url = f"{V}/{aid}/transcription"
    r = await apps.user.post(url, **upload(("a.wav", b"", "audio/wav")))
    assert r.status_code == 400 and r.json()["field"] == "file" and "empty" in r.json()["error"], r.text
    r = await apps.user.post(url, data={"language": "en"}, files={"other": ("x.wav", b"RIFF", "audio/wav")})
    assert r.status_code == 400 and r.json()["field"] == "file"
    r = await apps.user.post(url, json={"file": "not multipart"})
    assert r.status_code == 400 and r.json()["field"] == "file"
    r = await apps.user.post(url, **upload(("notes.txt", b"just some text, not audio", "text/plain")))
    assert r.status_code == 400 and "unrecognised audio format" in r.json()["error"]
    limit = apps.ctx.config.upload_limit_bytes
    assert limit == 25 * 1024 * 1024  # the default
    apps.ctx.config.upload_limit_bytes = 1000
    try:
        r = await apps.user.post(url, **upload(("big.wav", WAV_NOTE[1] + b"\x00" * 1000, "audio/wav")))
        assert r.status_code == 413 and "1000" in r.json()["error"]
        # the file alone is over the limit although the multipart overhead allowance would fit it
        r = await apps.user.post(url, **upload(("big.wav", WAV_NOTE[1][:1001], "audio/wav")))
        assert r.status_code == 413
        # raw bodies and a streamed body without Content-Length are capped too
        r = await apps.user.post(url, content=b"\x00" * 5000, headers={"Content-Type": "audio/wav"})
        assert r.status_code == 413

        async def chunks() -> Any:
            for _ in range(200):
                yield b"\x00" * 1024

        r = await apps.user.post(url, content=chunks(), headers={"Content-Type": "audio/wav"})
        assert r.status_code == 413
        r = await apps.user.post(url, **upload(("ok.wav", WAV_NOTE[1][:900], "audio/wav")))
        assert r.status_code == 200, r.text
    finally:
        apps.ctx.config.upload_limit_bytes = limit
    assert len(openai_voice.calls()) == 1


async def test_upstream_failure_is_502_redacted(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY, maxAttempts=1)
    aid = await agent(apps, transcription={"backend": bid}, tts={"backend": bid})
    openai_voice.script(Reply.fail(500, f"upstream exploded (key {OPENAI_KEY})"), route="stt")
    r = await apps.user.post(f"{V}/{aid}/transcription", **upload())
    assert r.status_code == 502 and "exploded" in r.json()["error"]
    assert OPENAI_KEY not in r.text
    openai_voice.script(Reply.fail(503, f"tts down, token {OPENAI_KEY}"), route="tts")
    r = await apps.user.post(f"{V}/{aid}/speech", json={"input": "hi"})
    assert r.status_code == 502 and r.headers["content-type"].startswith("application/json")
    assert "tts down" in r.json()["error"] and OPENAI_KEY not in r.text
    # a wrong key at the provider is an upstream failure too (never a 401 from magec)
    bad = await backend(apps, openai_voice.url, key="sk-wrong-voice-key-000")
    aid2 = await agent(apps, "Wrong key", tts={"backend": bad})
    r = await apps.user.post(f"{V}/{aid2}/speech", json={"input": "hi"})
    assert r.status_code == 502 and "sk-wrong-voice-key-000" not in r.text


async def test_upstream_timeout_is_504(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY, timeout=0.5, maxAttempts=1)
    aid = await agent(apps, transcription={"backend": bid}, tts={"backend": bid})
    openai_voice.script(Reply(delay=2.0), route="stt")
    r = await apps.user.post(f"{V}/{aid}/transcription", **upload())
    assert r.status_code == 504 and "timed out" in r.json()["error"]
    openai_voice.script(Reply(delay=2.0), route="tts")
    r = await apps.user.post(f"{V}/{aid}/speech", json={"input": "hi"})
    assert r.status_code == 504


async def test_transient_failures_are_retried_before_the_first_byte(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    """Voice calls share the chat calls' policy: a transient 5xx / timeout is retried (within
    ``maxAttempts`` and the total deadline); a caller's 4xx is not."""
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY, timeout=0.5, maxAttempts=3)
    aid = await agent(apps, "Retrying", transcription={"backend": bid}, tts={"backend": bid})
    openai_voice.script(Reply.fail(503, "busy"), Reply(delay=2.0), route="stt")
    r = await apps.user.post(f"{V}/{aid}/transcription", **upload())
    assert r.status_code == 200, r.text
    assert len(openai_voice.provider.requests_to("stt")) == 3
    openai_voice.script(Reply.fail(502, "bad gateway"), route="tts")
    r = await apps.user.post(f"{V}/{aid}/speech", json={"input": "hi"})
    assert r.status_code == 200 and r.content
    assert len(openai_voice.provider.requests_to("tts")) == 2
    openai_voice.script(Reply.fail(400, "bad audio"), route="stt")
    r = await apps.user.post(f"{V}/{aid}/transcription", **upload())
    assert r.status_code == 502 and r.json()["code"] == "bad_request"
    assert len(openai_voice.provider.requests_to("stt")) == 4


async def test_speech_body_errors(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    aid = await agent(apps, tts={"backend": bid})
    url = f"{V}/{aid}/speech"
    r = await apps.user.post(url, json={"response_format": "mp3"})
    assert r.status_code == 400 and r.json() == {"error": "input: is required", "code": "validation_error", "field": "input"}
    r = await apps.user.post(url, json={"input": "   "})
    assert r.status_code == 400 and r.json()["field"] == "input"
    r = await apps.user.post(url, json={"input": 42})
    assert r.status_code == 400 and r.json()["field"] == "input"
    r = await apps.user.post(url, content=b"", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "input" in r.json()["error"]
    r = await apps.user.post(url, content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = await apps.user.post(url, json=["input"])
    assert r.status_code == 400 and "JSON object" in r.json()["error"]
    r = await apps.user.post(url, json={"input": "hi", "response_format": "midi"})
    assert r.status_code == 400 and r.json()["field"] == "response_format"
    assert openai_voice.calls() == []
