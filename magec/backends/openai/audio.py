"""OpenAI audio: ``/audio/transcriptions`` (STT, multipart) and ``/audio/speech`` (TTS, streamed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from magec.backends._errors import CallState, mapped
from magec.backends.audio_formats import CONTENT_TYPES, extension
from magec.backends.base import SpeechResult
from magec.backends.openai.connection import OpenAIConnection, map_error
from magec.errors import ValidationError

SPEED_RANGE = (0.25, 4.0)


def filename_for(mime: str) -> str:
    return f"audio.{extension(mime)}"


class OpenAISpeechToText:
    """Whisper-compatible transcription; the ``model`` form field is always sent."""

    def __init__(self, connection: OpenAIConnection) -> None:
        self.connection = connection

    async def transcribe(
        self, audio: bytes, mime: str, model: str, options: Mapping[str, Any] | None = None
    ) -> str:
        opts = dict(options or {})
        extra: dict[str, Any] = {}
        if opts.get("language"):
            extra["language"] = str(opts["language"])
        if opts.get("prompt"):
            extra["prompt"] = str(opts["prompt"])
        with mapped(map_error, self.connection.label):
            result = await self.connection.client.audio.transcriptions.create(
                model=model, file=(filename_for(mime), audio, mime or "audio/wav"), **extra
            )
        text = getattr(result, "text", result)
        return str(text).strip()


class OpenAITextToSpeech:
    """``/audio/speech``; audio is yielded as the provider sends it (no buffering)."""

    def __init__(self, connection: OpenAIConnection) -> None:
        self.connection = connection

    async def synthesize(
        self,
        text: str,
        model: str,
        voice: str,
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SpeechResult:
        fmt = (format or "mp3").lower()
        if fmt not in CONTENT_TYPES:
            raise ValidationError(
                f"unsupported audio format {fmt!r} (expected one of: {', '.join(CONTENT_TYPES)})",
                field="response_format",
            )
        extra: dict[str, Any] = {}
        speed = (options or {}).get("speed")
        if speed is not None and speed != "":
            try:
                value = float(speed)
            except (TypeError, ValueError):
                raise ValidationError(
                    f"speed must be a number, got {speed!r}", field="tts.config.speed"
                ) from None
            if not SPEED_RANGE[0] <= value <= SPEED_RANGE[1]:
                raise ValidationError(
                    f"speed must be within {SPEED_RANGE}, got {value}", field="tts.config.speed"
                )
            extra["speed"] = value
        label = self.connection.label
        with mapped(map_error, label):
            manager = self.connection.client.audio.speech.with_streaming_response.create(
                model=model,
                voice=voice,
                input=text,
                response_format=fmt,  # type: ignore[arg-type]  # validated against CONTENT_TYPES above
                **extra,
            )
            response = await manager.__aenter__()
        upstream = (response.headers.get("content-type") or "").split(";", 1)[0].strip()
        content_type = upstream if upstream.startswith("audio/") else CONTENT_TYPES[fmt]

        async def chunks() -> AsyncIterator[bytes]:
            try:
                with mapped(map_error, label, CallState(started=True)):
                    async for piece in response.iter_bytes():
                        if piece:
                            yield piece
            finally:
                await manager.__aexit__(None, None, None)

        return SpeechResult(content_type=content_type, chunks=chunks())
