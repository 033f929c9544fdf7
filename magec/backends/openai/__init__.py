"""The ``openai`` backend type: OpenAI and every OpenAI-compatible server (Ollama, vLLM, LM Studio,
LocalAI, LiteLLM, Parakeet, openai-edge-tts, ...). Serves all four roles."""

from __future__ import annotations

from typing import Any

from magec.backends.base import BackendSpec, Capabilities, Defaults
from magec.backends.openai.audio import SPEED_RANGE, OpenAISpeechToText, OpenAITextToSpeech
from magec.backends.openai.chat import OpenAIChat
from magec.backends.openai.connection import OpenAIConnection
from magec.backends.openai.embeddings import OpenAIEmbeddings
from magec.backends.openai.models import OpenAIModels
from magec.backends.urls import OPENAI_DEFAULT

#: the voices OpenAI's speech models all take, which OpenAI-compatible speech servers (openai-edge-tts,
#: LocalAI, Kokoro's OpenAI API, …) map to their own: suggested in the agent dialog's Voice field
OPENAI_VOICES = ["alloy", "ash", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer"]


class OpenAIType:
    name = "openai"
    display_name = "OpenAI-compatible"
    description = "OpenAI or any server speaking its API (Ollama, vLLM, LM Studio, LocalAI, LiteLLM, ...)"
    default_url = OPENAI_DEFAULT
    defaults = Defaults(stt_model="whisper-1", tts_model="tts-1", tts_voice="alloy")

    @property
    def declared(self) -> Capabilities:
        return Capabilities(
            roles=["llm", "embeddings", "stt", "tts"], tools=True, streaming_tools=True, vision=True,
            voices=list(OPENAI_VOICES),
        )

    def connect(self, spec: BackendSpec) -> OpenAIConnection:
        return OpenAIConnection(spec)

    def chat(self, spec: BackendSpec, model: str) -> OpenAIChat:
        return OpenAIChat(OpenAIConnection(spec), model)

    def embeddings(self, spec: BackendSpec) -> OpenAIEmbeddings:
        return OpenAIEmbeddings(OpenAIConnection(spec))

    def stt(self, spec: BackendSpec) -> OpenAISpeechToText:
        return OpenAISpeechToText(OpenAIConnection(spec))

    def tts(self, spec: BackendSpec) -> OpenAITextToSpeech:
        return OpenAITextToSpeech(OpenAIConnection(spec))

    def models(self, spec: BackendSpec) -> OpenAIModels:
        return OpenAIModels(OpenAIConnection(spec))

    def voice_options_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "speed": {
                    "type": "number",
                    "title": "Speed",
                    "description": "Playback speed of the generated audio.",
                    "minimum": SPEED_RANGE[0],
                    "maximum": SPEED_RANGE[1],
                    "default": 1.0,
                    "x-placeholder": "1.0",
                    "x-size": "small",
                }
            },
            "propertyOrder": ["speed"],
        }


TYPE = OpenAIType()

__all__ = [
    "TYPE",
    "OpenAIChat",
    "OpenAIConnection",
    "OpenAIEmbeddings",
    "OpenAIModels",
    "OpenAISpeechToText",
    "OpenAITextToSpeech",
    "OpenAIType",
]
