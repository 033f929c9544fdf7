"""Voice UI fixtures: a real ``magec serve`` with a paired client, one loopback OpenAI fake for chat,
speech-to-text and text-to-speech, and Debian Chromium whose microphone plays espeak-ng WAVs.

Screenshots (phone viewport) go to ``test-artifacts/voice_ui/``.
"""

from __future__ import annotations

import io
import shutil
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess
from magec.testing.speech import padded, say, write_wav
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, _track_errors

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "voice_ui"
ADMIN = "voice-ui-admin"
PHONE = {"width": 390, "height": 844}


@dataclass
class Setup:
    server: ServerProcess
    fake: FakeServer
    token: str
    helper: str  # LLM + STT + TTS
    typist: str  # LLM only: no voice
    duo: str  # flow: typist then helper (the response agent)
    tts_audio: bytes

    def sent(self, route: str) -> list[Any]:
        """Requests the fake received on ``route`` ("chat", "stt", "tts")."""
        return [r for r in self.fake.requests if r.route == route]

    def script_voice(self, transcript: str, answers: int = 4) -> None:
        """The next transcription says ``transcript``; the next TTS answers are real WAV audio."""
        self.fake.clear()
        self.fake.script(Reply(text=transcript), route="stt")
        self.fake.script(*[Reply(audio=self.tts_audio) for _ in range(answers)], route="tts")


def _wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    fake = FakeServer(OpenAIFake("voice-llm", models=["chat", "stt-helper", "tts-helper"]))
    data = tmp_path_factory.mktemp("voice-ui")
    srv = ServerProcess(data_dir=data, admin_password=ADMIN, env={"MAGEC_VOICE_SILENCE_TIMEOUT": "700"}).start()
    try:
        api = httpx.Client(base_url=f"{srv.admin_url}/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN}"},
                           timeout=60)
        b = api.post("/backends", json={"name": "fake", "type": "openai", "url": fake.url, "apiKey": "sk-x"}).json()

        def agent(name: str, **extra: Any) -> str:
            r = api.post("/agents", json={"name": name, "llm": {"backend": b["id"], "model": "chat"}, **extra})
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        helper = agent("Helper", transcription={"backend": b["id"], "model": "stt-helper"},
                       tts={"backend": b["id"], "model": "tts-helper", "voice": "alloy"})
        typist = agent("Typist")
        r = api.post("/flows", json={"name": "Duo", "root": {"type": "sequential", "steps": [
            {"type": "agent", "agentId": typist}, {"type": "agent", "agentId": helper, "responseAgent": True}]}})
        assert r.status_code == 201, r.text
        duo = r.json()["id"]
        r = api.post("/clients", json={"name": "Phone", "allowedAgents": [helper, typist, duo]})
        assert r.status_code == 201, r.text
        samples, rate = say("it is sunny")
        yield Setup(srv, fake, r.json()["token"], helper, typist, duo, _wav_bytes(samples, rate))
    finally:
        srv.stop()
        fake.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def phone(pw: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``phone(wav=None, loop=True, microphone="granted")`` → a phone-sized page whose microphone plays
    ``wav``; ``microphone="denied"``: the person refused it, ``"none"``: the device has none."""
    opened: list[Any] = []

    def open_page(wav: Path | None = None, loop: bool = True, microphone: str = "granted") -> Any:
        args = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
        if microphone != "none":
            args.append("--use-fake-device-for-media-stream")
        if microphone == "granted":
            args.append("--use-fake-ui-for-media-stream")
        if wav is not None:
            args.append(f"--use-file-for-fake-audio-capture={wav}{'' if loop else '%noloop'}")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  permissions=["microphone"] if microphone == "granted" else [])
        opened.append(browser)
        return _track_errors(ctx.new_page())

    yield open_page
    for b in opened:
        b.close()


def spoken_wav(tmp: Path, text: str, before: float = 2.0, after: float = 3.0) -> Path:
    samples, rate = say(text)
    return write_wav(tmp / "mic.wav", padded(samples, rate, before, after), rate)
