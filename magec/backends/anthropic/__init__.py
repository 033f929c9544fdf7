"""The ``anthropic`` backend type: Claude through the Messages API (LLM role only)."""

from __future__ import annotations

from typing import Any, NoReturn

from magec.backends.anthropic.chat import AnthropicChat
from magec.backends.anthropic.connection import AnthropicConnection
from magec.backends.anthropic.models import AnthropicModels
from magec.backends.base import BackendSpec, Capabilities, Defaults
from magec.backends.urls import ANTHROPIC_DEFAULT
from magec.errors import UnsupportedRoleError


class AnthropicType:
    name = "anthropic"
    display_name = "Anthropic"
    description = "Claude models through the Anthropic Messages API (or a compatible proxy)"
    default_url = ANTHROPIC_DEFAULT
    defaults = Defaults()

    @property
    def declared(self) -> Capabilities:
        return Capabilities(roles=["llm"], tools=True, streaming_tools=True, vision=True)

    def connect(self, spec: BackendSpec) -> AnthropicConnection:
        return AnthropicConnection(spec)

    def chat(self, spec: BackendSpec, model: str) -> AnthropicChat:
        return AnthropicChat(AnthropicConnection(spec), model)

    def _unsupported(self, spec: BackendSpec, role: str) -> NoReturn:
        raise UnsupportedRoleError(
            f"backend {spec.name!r} (type anthropic) cannot serve the {role} role", backend=spec.name
        )

    def embeddings(self, spec: BackendSpec) -> NoReturn:
        self._unsupported(spec, "embeddings")

    def stt(self, spec: BackendSpec) -> NoReturn:
        self._unsupported(spec, "stt")

    def tts(self, spec: BackendSpec) -> NoReturn:
        self._unsupported(spec, "tts")

    def models(self, spec: BackendSpec) -> AnthropicModels:
        return AnthropicModels(AnthropicConnection(spec))

    def voice_options_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {}}


TYPE = AnthropicType()

__all__ = ["TYPE", "AnthropicChat", "AnthropicConnection", "AnthropicModels", "AnthropicType"]
