"""Wrap raw PCM into a RIFF/WAV container (Gemini TTS returns bare 16-bit PCM, ``audio/L16``)."""

from __future__ import annotations

import struct


def pcm_to_wav(pcm: bytes, *, rate: int = 24000, channels: int = 1, sample_width: int = 2) -> bytes:
    """A complete WAV file holding ``pcm`` (little-endian signed samples)."""
    byte_rate = rate * channels * sample_width
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    fmt = struct.pack(
        "<4sIHHIIHH", b"fmt ", 16, 1, channels, rate, byte_rate, channels * sample_width, sample_width * 8
    )
    return header + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm


def rate_from_mime(mime: str, default: int = 24000) -> int:
    """The ``rate=`` parameter of an ``audio/L16;codec=pcm;rate=24000`` MIME type."""
    for param in mime.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key == "rate" and value.isdigit():
            return int(value)
    return default
