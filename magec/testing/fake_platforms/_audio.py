"""Real speech for bot tests: espeak-ng → WAV, and the WAV as the platforms carry voice notes
(OGG/Opus, encoded in-process with PyAV — or ``ffmpeg`` — through the bots' own converter)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from magec.clients.botkit import to_ogg_opus


@cache
def espeak_wav(text: str) -> bytes:
    """``text`` spoken by Debian's espeak-ng, as a WAV file (RuntimeError when it is missing)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed; run scripts/test.sh (it installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", "en", "-w", str(out), text], check=True, timeout=60)
        return out.read_bytes()


@cache
def voice_note(text: str) -> bytes:
    """``text`` as a voice note: espeak-ng speech encoded to OGG/Opus."""
    ogg = to_ogg_opus(espeak_wav(text), "audio/wav")
    if ogg is None:
        raise RuntimeError("no OGG/Opus encoder: install PyAV (pip install av) or ffmpeg")
    return ogg
