"""Voice test fixtures: loopback OpenAI/Gemini fakes (one plain, one behind a proxy path prefix)
and real speech synthesised with Debian ``espeak-ng``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from magec.testing.fake_providers import FakeServer, GeminiFake, OpenAIFake
from tests.voice.helpers import GEMINI_KEY, OPENAI_KEY, PrefixedFake


@pytest.fixture(scope="module")
def openai_voice() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("openai-voice", api_key=OPENAI_KEY)) as s:
        yield s


@pytest.fixture(scope="module")
def openai_proxied() -> Iterator[PrefixedFake]:
    fake = PrefixedFake(OpenAIFake("openai-proxied"), "/openai")
    try:
        yield fake
    finally:
        fake.server.stop()


@pytest.fixture(scope="module")
def gemini_voice() -> Iterator[FakeServer]:
    with FakeServer(GeminiFake("gemini-voice", api_key=GEMINI_KEY)) as s:
        yield s


@pytest.fixture(autouse=True)
def _clear_fakes(request: pytest.FixtureRequest) -> None:
    for name in ("openai_voice", "gemini_voice"):
        if name in request.fixturenames:
            request.getfixturevalue(name).clear()
    if "openai_proxied" in request.fixturenames:
        request.getfixturevalue("openai_proxied").provider.clear()


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real spoken WAV ("hello from magec") made by espeak-ng."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail("espeak-ng is not installed; run the README test command (it installs it)")
    out: Path = tmp_path_factory.mktemp("speech") / "hello.wav"
    subprocess.run([exe, "-v", "en", "-w", str(out), "hello from magec"], check=True, timeout=60)
    return out.read_bytes()
