"""Provider faults on the voice routes and on embeddings through memory, as a client sees them:
each ends with one typed error within its deadline, or with the answer after a retry, for every
vendor that has the role (OpenAI-compatible and Gemini)."""

from __future__ import annotations

import time

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.voice.helpers import GEMINI_KEY, OPENAI_KEY, V, agent, backend

SLACK = 2.0


@pytest.fixture(params=["openai", "gemini"])
def vendor(request: pytest.FixtureRequest, openai_voice: FakeServer, gemini_voice: FakeServer) -> tuple[str, FakeServer, str]:
    return (request.param, openai_voice, OPENAI_KEY) if request.param == "openai" else (request.param, gemini_voice, GEMINI_KEY)


async def _voice_agent(apps: Apps, vendor: tuple[str, FakeServer, str]) -> str:
    btype, fake, key = vendor
    bid = await backend(apps, fake.url, btype=btype, key=key, timeout=0.5, totalTimeout=3.0, maxAttempts=2)
    return await agent(apps, f"Voice {btype}", transcription={"backend": bid}, tts={"backend": bid})


async def _transcribe(apps: Apps, aid: str, wav: bytes) -> tuple[int, dict, float, dict]:
    start = time.monotonic()
    r = await apps.user.post(f"{V}/{aid}/transcription", files={"file": ("a.wav", wav, "audio/wav")})
    return r.status_code, r.json(), time.monotonic() - start, dict(r.headers)


async def test_voice_faults(sqlite_apps: Apps, vendor: tuple[str, FakeServer, str], speech_wav: bytes) -> None:
    apps = sqlite_apps
    btype, fake, _ = vendor
    aid = await _voice_agent(apps, vendor)
    stt = "stt" if btype == "openai" else None  # the gemini fake serves STT on its chat route

    def script(*replies: Reply) -> None:
        fake.script(*replies, route=stt) if stt else fake.script(*replies)

    # transient 500 once: retried, answered
    script(Reply.fail(500, "flaky"))
    status, body, took, _ = await _transcribe(apps, aid, speech_wav)
    assert status == 200, body
    # rate limit that outlives the retries: 429 with Retry-After, one error
    script(*[Reply.fail(429, "slow down", headers={"Retry-After": "1"})] * 2)
    status, body, took, headers = await _transcribe(apps, aid, speech_wav)
    assert status == 429 and body["code"] == "rate_limit", body
    assert headers.get("retry-after") == "1"
    # a hang before the headers, every attempt: a timeout within the total deadline
    script(*[Reply(delay=5.0)] * 2)
    status, body, took, _ = await _transcribe(apps, aid, speech_wav)
    assert status == 504 and body["code"] == "timeout", body
    assert took < 3.0 + SLACK
    # an HTML error page: one error, the page not copied raw into the message
    script(*[Reply(status=502, body="<html><body><h1>502 Bad Gateway</h1></body></html>")] * 2)
    status, body, took, _ = await _transcribe(apps, aid, speech_wav)
    assert status == 502 and "<html" not in body["error"], body
    # malformed answer: not retried
    script(Reply(text="x", malformed=True))
    status, body, _, _ = await _transcribe(apps, aid, speech_wav)
    assert status == 502 and body["code"] == "malformed_response", body

    # speech: a failure before the first audio byte is a JSON error, never a broken audio stream
    fake.script(*[Reply.fail(503, "tts down")] * 2, route="tts" if btype == "openai" else None)
    r = await apps.user.post(f"{V}/{aid}/speech", json={"input": "hello"})
    assert r.status_code == 502 and r.headers["content-type"].startswith("application/json"), r.text
