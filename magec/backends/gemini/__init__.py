"""The ``gemini`` backend type: Google Gemini through google-genai (all four roles)."""

from __future__ import annotations

from typing import Any

from magec.backends.base import BackendSpec, Capabilities, Defaults
from magec.backends.gemini.audio import GeminiSpeechToText, GeminiTextToSpeech
from magec.backends.gemini.chat import GeminiChat
from magec.backends.gemini.connection import GeminiConnection
from magec.backends.gemini.embeddings import GeminiEmbeddings
from magec.backends.gemini.models import GeminiModels
from magec.backends.urls import GEMINI_DEFAULT

VOICES = ["Kore", "Puck", "Charon", "Fenrir", "Aoede", "Leda", "Orus", "Zephyr"]


class GeminiType:
    name = "gemini"
    display_name = "Google Gemini"
    description = "Gemini models through the Gemini API (chat, embeddings, speech-to-text, text-to-speech)"
    default_url = GEMINI_DEFAULT
    defaults = Defaults(stt_model="gemini-2.0-flash", tts_model="gemini-2.5-flash-preview-tts", tts_voice="Kore")

    @property
    def declared(self) -> Capabilities:
        return Capabilities(
            roles=["llm", "embeddings", "stt", "tts"],
            tools=True,
            streaming_tools=True,
            vision=True,
            voices=list(VOICES),
        )

    def connect(self, spec: BackendSpec) -> GeminiConnection:
        return GeminiConnection(spec)

    def chat(self, spec: BackendSpec, model: str) -> GeminiChat:
        return GeminiChat(GeminiConnection(spec), model)

    def embeddings(self, spec: BackendSpec) -> GeminiEmbeddings:
        return GeminiEmbeddings(GeminiConnection(spec))

    def stt(self, spec: BackendSpec) -> GeminiSpeechToText:
        return GeminiSpeechToText(GeminiConnection(spec))

    def tts(self, spec: BackendSpec) -> GeminiTextToSpeech:
        return GeminiTextToSpeech(GeminiConnection(spec))

    def models(self, spec: BackendSpec) -> GeminiModels:
        return GeminiModels(GeminiConnection(spec))

    def voice_options_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "languageCode": {
                    "type": "string",
                    "title": "Language code",
                    "description": "BCP-47 language of the speech, e.g. es-ES.",
                    "x-placeholder": "es-ES",
                    "x-size": "small",
                },
                "temperature": {
                    "type": "number",
                    "title": "Temperature",
                    "minimum": 0,
                    "maximum": 2,
                    "x-size": "small",
                    "x-advanced": True,
                },
                "stylePrompt": {
                    "type": "string",
                    "title": "Style prompt",
                    "description": "How to speak, e.g. 'Say cheerfully'. Prefixed to the text.",
                    "x-format": "textarea",
                },
            },
            "propertyOrder": ["languageCode", "temperature", "stylePrompt"],
        }


TYPE = GeminiType()

__all__ = [
    "TYPE",
    "GeminiChat",
    "GeminiConnection",
    "GeminiEmbeddings",
    "GeminiModels",
    "GeminiSpeechToText",
    "GeminiTextToSpeech",
    "GeminiType",
]
