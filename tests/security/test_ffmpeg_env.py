"""Least privilege for ``ffmpeg``: it decodes audio a provider sent (a bot's voice reply) or encodes
the local backend's speech, and gets the same minimal environment as a stdio MCP server.

It inherited magec's whole environment — the admin password, the encryption key, the database URL,
provider keys — in the process that parses hostile input. A fake ``ffmpeg`` on ``PATH`` dumps the
environment it was given; magec's own holds canaries.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from magec.backends.local import _audio
from magec.clients import botkit
from magec.errors import BackendError
from tests.security.test_mcp_env import CANARIES


@pytest.fixture
def fake_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dump = tmp_path / "env.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "ffmpeg"
    script.write_text(f"#!/bin/sh\nenv > {dump}\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    return dump


def _seen(dump: Path) -> str:
    text = dump.read_text()
    assert "PATH=" in text  # it ran, with what it needs to
    return text


def test_a_bots_voice_conversion_runs_ffmpeg_without_magecs_secrets(
    fake_ffmpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(botkit, "find_spec", lambda name: None)  # no PyAV: the ffmpeg executable
    assert botkit.to_ogg_opus(b"RIFF....WAVEfmt ", "audio/wav") is None  # it failed: sent as a file
    seen = _seen(fake_ffmpeg)
    for name, value in CANARIES.items():
        assert value not in seen and name not in seen, name


def test_the_local_backends_encoder_runs_ffmpeg_without_magecs_secrets(fake_ffmpeg: Path) -> None:
    encode = _audio._encode_ffmpeg(str(fake_ffmpeg.parent / "bin" / "ffmpeg"), "mp3")
    with pytest.raises(BackendError):
        encode(b"RIFF....WAVEfmt ")
    seen = _seen(fake_ffmpeg)
    for name, value in CANARIES.items():
        assert value not in seen and name not in seen, name
