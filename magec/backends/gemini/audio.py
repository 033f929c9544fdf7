"""Gemini voice through ``generateContent``.

STT: one user turn with ``"Transcribe this audio."`` and the audio as an inline part; the answer's
text parts joined. TTS: ``responseModalities: [AUDIO]`` with a prebuilt voice; options
``languageCode``, ``temperature`` and ``stylePrompt`` (prefixed to the text as ``"<style>: <text>"``).
The API returns raw 16-bit PCM (``audio/L16;...;rate=24000``) which is wrapped into a WAV file
(``audio/wav``); ``format="pcm"`` returns the raw samples as ``audio/pcm``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.genai import types

from magec.backends._errors import mapped
from magec.backends._wav import pcm_to_wav, rate_from_mime
from magec.backends.base import SpeechResult
from magec.backends.gemini.connection import GeminiConnection, map_error
from magec.errors import MalformedResponseError, ValidationError

TRANSCRIBE_PROMPT = "Transcribe this audio."


class GeminiSpeechToText:
    def __init__(self, connection: GeminiConnection) -> None:
        self.connection = connection

    async def transcribe(
        self, audio: bytes, mime: str, model: str, options: Mapping[str, Any] | None = None
    ) -> str:
        prompt = TRANSCRIBE_PROMPT
        opts = options or {}
        if opts.get("language"):
            prompt += f" The speech is in {opts['language']}."
        if opts.get("prompt"):
            prompt += f" Context: {opts['prompt']}"
        content = types.Content(
            role="user",
            parts=[
                types.Part.from_text(text=prompt),
                types.Part.from_bytes(data=audio, mime_type=mime or "audio/wav"),
            ],
        )
        config = types.GenerateContentConfig(
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
        )
        with mapped(map_error, self.connection.label):
            resp = await self.connection.client.aio.models.generate_content(
                model=model, contents=[content], config=config
            )
        texts = [
            p.text
            for c in resp.candidates or []
            if c.content
            for p in c.content.parts or []
            if p.text and not p.thought
        ]
        return "".join(texts).strip()


class GeminiTextToSpeech:
    def __init__(self, connection: GeminiConnection) -> None:
        self.connection = connection

    async def synthesize(
        self,
        text: str,
        model: str,
        voice: str,
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SpeechResult:
        fmt = (format or "wav").lower()
        if fmt not in ("wav", "pcm"):
            raise ValidationError(f"gemini TTS produces wav or pcm, not {fmt!r}", field="response_format")
        opts = options or {}
        style = str(opts.get("stylePrompt") or "").strip()
        speech = types.SpeechConfig(
            voice_config=types.VoiceConfig(prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=voice)),
            language_code=str(opts["languageCode"]) if opts.get("languageCode") else None,
        )
        config = types.GenerateContentConfig(
            response_modalities=["AUDIO"],
            speech_config=speech,
            temperature=float(opts["temperature"]) if opts.get("temperature") not in (None, "") else None,
        )
        prompt = f"{style}: {text}" if style else text
        label = self.connection.label
        with mapped(map_error, label):
            resp = await self.connection.client.aio.models.generate_content(
                model=model, contents=prompt, config=config
            )
        blobs = [
            p.inline_data
            for c in resp.candidates or []
            if c.content
            for p in c.content.parts or []
            if p.inline_data is not None and p.inline_data.data
        ]
        if not blobs:
            raise MalformedResponseError(f"{label}: the TTS answer carried no audio", backend=label)
        pcm = b"".join(b.data or b"" for b in blobs)
        if fmt == "pcm":
            audio, ctype = pcm, "audio/pcm"
        else:
            audio, ctype = pcm_to_wav(pcm, rate=rate_from_mime(blobs[0].mime_type or "")), "audio/wav"

        return SpeechResult.from_bytes(ctype, audio, chunk=max(1, len(audio)))
