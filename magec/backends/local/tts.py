"""Local text-to-speech: piper (ONNX) with the en_US-joe-medium voice.

:class:`LocalTTS` implements :class:`magec.backends.base.TextToSpeech`. The whole utterance is
synthesised before :meth:`LocalTTS.synthesize` returns (piper is ~40x real time on one core), so
every error surfaces there; the returned stream then yields the encoded audio in 32 KiB chunks.

Formats: ``wav`` (default, 16-bit mono at the voice's rate, ``audio/wav``), ``pcm`` (the same
samples raw, ``audio/pcm``), and ``mp3`` / ``opus`` (Ogg) / ``aac`` / ``flac`` encoded by PyAV or
ffmpeg (see ``_audio``); an unknown or unencodable format raises
:class:`~magec.errors.ValidationError` (``field="format"``) naming it, before synthesis. Options (``tts.config.local``): ``speed`` (0.25–4, default 1),
``noiseScale``, ``noiseWScale``, ``volume``, ``speakerId`` (multi-speaker voices).
"""

from __future__ import annotations

import io
import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from magec.backends.base import BackendSpec, SpeechResult
from magec.backends.local import _assets, _workers
from magec.backends.local._audio import FORMATS, encoder_for
from magec.backends.local._deps import BACKEND, require
from magec.errors import BackendError, ValidationError

CHUNK = 32 * 1024

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
        encode = encoder_for(fmt)
        config = _config(options or {})
        worker = await load_voice(voice)
        try:
            wav_bytes = await worker.call(lambda v: _synthesize_wav(v, text, config))
        except Exception as e:
            raise BackendError(f"local speech synthesis failed: {e}", backend=BACKEND) from e
        data = wav_bytes if fmt == "wav" else await worker.call(lambda _v: encode(wav_bytes))
        return SpeechResult.from_bytes(FORMATS[fmt], data, CHUNK)
