"""Local text-to-speech: piper (ONNX) with the en_US-joe-medium voice.

:class:`LocalTTS` implements :class:`magec.backends.base.TextToSpeech`. The whole utterance is
synthesised before :meth:`LocalTTS.synthesize` returns (piper is ~40x real time on one core), so
every error surfaces there; the returned stream then yields the encoded audio in 32 KiB chunks.

Formats: ``wav`` (default, 16-bit mono at the voice's rate, ``audio/wav``) and ``pcm`` (the same
samples raw, ``audio/pcm``) need nothing else. ``mp3``, ``opus``, ``aac`` and ``flac`` are encoded
by an ``ffmpeg`` found on ``PATH``; without it they raise :class:`~magec.errors.ValidationError`
(``field="format"``) naming the format. Options (``tts.config.local``): ``speed`` (0.25–4, default 1),
``noiseScale``, ``noiseWScale``, ``volume``, ``speakerId`` (multi-speaker voices).
"""

from __future__ import annotations

import asyncio
import io
import shutil
import wave
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from magec.backends.base import BackendSpec, SpeechResult
from magec.backends.local import _assets, _workers
from magec.backends.local._deps import BACKEND, require
from magec.errors import BackendError, ValidationError

CHUNK = 32 * 1024
# format -> (content type, ffmpeg output arguments); None = no ffmpeg needed
FORMATS: dict[str, tuple[str, list[str] | None]] = {
    "wav": ("audio/wav", None),
    "pcm": ("audio/pcm", None),
    "mp3": ("audio/mpeg", ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"]),
    "opus": ("audio/ogg", ["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"]),
    "aac": ("audio/aac", ["-c:a", "aac", "-b:a", "64k", "-f", "adts"]),
    "flac": ("audio/flac", ["-c:a", "flac", "-f", "flac"]),
}

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "speed": {"type": "number", "minimum": 0.25, "maximum": 4.0, "default": 1.0,
                  "title": "Speed", "description": "Speaking rate (1 = the voice's natural pace)."},
        "noiseScale": {"type": "number", "minimum": 0, "maximum": 2,
                       "title": "Noise scale", "description": "Generator noise (expressiveness)."},
        "noiseWScale": {"type": "number", "minimum": 0, "maximum": 2,
                        "title": "Phoneme width noise", "description": "Variation in phoneme length."},
        "volume": {"type": "number", "minimum": 0, "maximum": 4, "default": 1.0, "title": "Volume"},
        "speakerId": {"type": "integer", "minimum": 0, "title": "Speaker id",
                      "description": "Speaker index (multi-speaker voices only)."},
    },
}  # fmt: skip


def _load(voice_path: Path) -> Any:
    piper = require("piper", "piper-tts", "text-to-speech")
    return piper.PiperVoice.load(str(voice_path), config_path=str(voice_path.with_suffix(".onnx.json")))


async def load_voice(voice: str) -> _workers.Worker[Any]:
    """The loaded PiperVoice for ``voice`` (see :func:`_assets.resolve_voice`)."""
    path = _assets.resolve_voice(voice)
    require("piper", "piper-tts", "text-to-speech")
    return await _workers.loaded(f"tts:{path}", f"voice {path.stem}", lambda: _load(path))


def _config(options: Mapping[str, Any]) -> Any:
    piper = require("piper", "piper-tts", "text-to-speech")
    speed = float(options.get("speed") or 1.0)
    if not 0.25 <= speed <= 4.0:
        raise ValidationError("speed must be between 0.25 and 4", field="tts.config.local.speed")
    return piper.SynthesisConfig(
        speaker_id=options.get("speakerId"),
        length_scale=1.0 / speed if speed != 1.0 else None,
        noise_scale=options.get("noiseScale"),
        noise_w_scale=options.get("noiseWScale"),
        volume=float(options.get("volume", 1.0)),
    )


def _synthesize_wav(voice: Any, text: str, config: Any) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wf:
        voice.synthesize_wav(text, wf, syn_config=config)
    return buf.getvalue()


def _pcm_of(wav_bytes: bytes) -> bytes:
    with wave.open(io.BytesIO(wav_bytes)) as wf:
        return wf.readframes(wf.getnframes())


async def _ffmpeg(wav_bytes: bytes, args: list[str], ffmpeg: str) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-loglevel", "error", "-i", "pipe:0", *args, "pipe:1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate(wav_bytes)
    if proc.returncode != 0:
        raise BackendError(f"ffmpeg could not encode the audio: {err.decode(errors='replace')[-300:]}",
                           backend=BACKEND)  # fmt: skip
    return out


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i : i + CHUNK]


def check_format(fmt: str) -> tuple[str, list[str] | None, str | None]:
    """(content type, ffmpeg args, ffmpeg path) for ``fmt``; ValidationError if unusable here."""
    entry = FORMATS.get(fmt)
    if entry is None:
        raise ValidationError(
            f"unsupported audio format {fmt!r} for the local backend (expected one of: {', '.join(FORMATS)})",
            field="format",
        )
    content_type, args = entry
    if args is None:
        return content_type, None, None
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ValidationError(
            f"audio format {fmt!r} needs ffmpeg, which is not installed; use 'wav' or 'pcm', "
            "or install ffmpeg (apt-get install ffmpeg)",
            field="format",
        )
    return content_type, args, ffmpeg


class LocalTTS:
    """Speech synthesis in-process. ``voice`` "" / "joe" mean en_US-joe-medium, or a path to a piper
    ``.onnx`` voice. ``model`` is ignored (piper has one model per voice; ``tts-1`` etc. are fine)."""

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec

    async def synthesize(
        self,
        text: str,
        model: str,
        voice: str,
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SpeechResult:
        """Synthesise ``text`` now; the result streams the encoded bytes."""
        if not text.strip():
            raise ValidationError("nothing to say: the text is empty", field="input")
        fmt = (format or "wav").lower()
        content_type, ffmpeg_args, ffmpeg = check_format(fmt)
        config = _config(options or {})
        worker = await load_voice(voice)
        try:
            wav_bytes = await worker.call(lambda v: _synthesize_wav(v, text, config))
        except Exception as e:
            raise BackendError(f"local speech synthesis failed: {e}", backend=BACKEND) from e
        if fmt == "pcm":
            data = _pcm_of(wav_bytes)
        elif ffmpeg_args is not None and ffmpeg is not None:
            data = await _ffmpeg(wav_bytes, ffmpeg_args, ffmpeg)
        else:
            data = wav_bytes
        return SpeechResult(content_type=content_type, chunks=_chunks(data))
