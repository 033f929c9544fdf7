"""Role contracts every backend type implements, and the spec a backend is built from.

A *backend* is a named connection to an AI provider. The rest of magec never imports a vendor SDK:
it asks the registry (:mod:`magec.backends.registry`) for a :class:`BackendType` by the record's
``type`` and calls the role it needs. Roles:

* chat — an ADK ``BaseLlm`` (``google.adk.models.BaseLlm``); ADK's ``LlmRequest`` / ``LlmResponse``
  and ``google.genai.types`` are the one message vocabulary. Non-streamed = the stream drained.
* embeddings — :class:`Embeddings`
* stt — :class:`SpeechToText`
* tts — :class:`TextToSpeech`
* models — :class:`ModelListing`

Every method raises only :mod:`magec.errors` types (``BackendError`` subclasses); messages are
already redacted (never contain the API key).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from google.adk.models import BaseLlm

Role = Literal["llm", "embeddings", "stt", "tts"]
ROLES: tuple[Role, ...] = ("llm", "embeddings", "stt", "tts")


@dataclass(frozen=True)
class BackendSpec:
    """An expanded backend record: secrets substituted, ready to connect.

    ``url`` may be empty (the type's default is used). ``headers`` are sent on every call.
    Deadlines, in seconds: ``connect_timeout`` to open a connection, ``timeout`` the read deadline
    (the longest wait for the next byte, response headers included), ``total_timeout`` for a whole
    chat call (every attempt and the full stream). ``max_attempts`` bounds the chat calls made for
    one model request (1 = no retry); see :mod:`magec.backends._resilience`.
    """

    id: str
    name: str
    type: str
    url: str = ""
    api_key: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    connect_timeout: float = 10.0
    total_timeout: float = 300.0
    max_attempts: int = 3
    #: the largest answer read from the provider (:mod:`magec.backends._limits`)
    max_response_bytes: int = 32 * 1024 * 1024

    def with_headers(self, extra: Mapping[str, str] | None) -> BackendSpec:
        """Return a copy whose headers are ours overridden per key by ``extra`` (agent-level headers)."""
        if not extra:
            return self
        return dataclasses.replace(self, headers={**self.headers, **extra})


def limits_of(record: Any) -> dict[str, Any]:
    """The deadline / retry fields a backend record sets (``connect_timeout``, ``total_timeout``,
    ``max_attempts``), as :class:`BackendSpec` keyword arguments; unset ones keep the defaults."""
    names = ("connect_timeout", "total_timeout", "max_attempts", "max_response_bytes")
    return {n: v for n in names if (v := getattr(record, n, None)) is not None}


@dataclass
class Capabilities:
    """What a backend can do: declared per type, refined by probes (``test connection``)."""

    roles: list[Role] = field(default_factory=list)
    tools: bool = False
    streaming_tools: bool = False
    vision: bool = False
    embedding_dimension: int | None = None
    voices: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "roles": list(self.roles),
            "tools": self.tools,
            "streamingTools": self.streaming_tools,
            "vision": self.vision,
            "embeddingDimension": self.embedding_dimension,
            "voices": list(self.voices),
            "models": list(self.models),
        }


@dataclass(frozen=True)
class Defaults:
    """What a backend type fills in when an agent leaves a field empty: declared per type, so the
    rest of magec never branches on a type name (an empty string = the role picks its own)."""

    #: chat needs an explicit model name (``local`` has a built-in default model, the others do not)
    requires_model: bool = True
    stt_model: str = ""
    tts_model: str = ""
    tts_voice: str = ""


@dataclass
class ModelInfo:
    id: str
    owned_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "ownedBy": self.owned_by}


@dataclass
class SpeechResult:
    """Synthesised audio: ``chunks`` is consumed once, in order, as bytes arrive upstream."""

    content_type: str
    chunks: AsyncIterator[bytes]

    @classmethod
    def from_bytes(cls, content_type: str, data: bytes, chunk: int = 32 * 1024) -> SpeechResult:
        """A result over audio already in memory, yielded in ``chunk``-byte pieces."""

        async def pieces() -> AsyncIterator[bytes]:
            for i in range(0, len(data), chunk):
                yield data[i : i + chunk]

        return cls(content_type=content_type, chunks=pieces())


@runtime_checkable
class Embeddings(Protocol):
    async def embed(self, texts: list[str], model: str) -> list[list[float]]:
        """Embed ``texts`` with ``model`` (batched as the provider allows); one vector per text, in order."""
        ...


@runtime_checkable
class SpeechToText(Protocol):
    async def transcribe(
        self, audio: bytes, mime: str, model: str, options: Mapping[str, Any] | None = None
    ) -> str:
        """Transcribe ``audio`` (of MIME type ``mime``); ``options`` may carry ``language``, ``prompt``."""
        ...


@runtime_checkable
class TextToSpeech(Protocol):
    async def synthesize(
        self,
        text: str,
        model: str,
        voice: str,
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SpeechResult:
        """Start synthesis. Errors before the first byte raise here; the stream then yields audio."""
        ...


@runtime_checkable
class ModelListing(Protocol):
    async def list_models(self) -> list[ModelInfo]: ...


class BackendType(Protocol):
    """One provider type (``openai``, ``anthropic``, ``gemini``, ``local``): a factory per role.

    ``name``/``display_name``/``description``/``default_url`` describe it for the UI.
    ``declared`` is the capability table entry served at ``GET /api/v1/admin/backends/types``;
    ``defaults`` what the type fills in for an agent's empty model / voice fields.
    A factory for a role the type does not support raises :class:`magec.errors.UnsupportedRoleError`.
    """

    name: str
    display_name: str
    description: str
    default_url: str
    defaults: Defaults

    @property
    def declared(self) -> Capabilities:  # read-only: a type may compute it (openai's is a property)
        ...

    def chat(self, spec: BackendSpec, model: str) -> BaseLlm: ...

    def embeddings(self, spec: BackendSpec) -> Embeddings: ...

    def stt(self, spec: BackendSpec) -> SpeechToText: ...

    def tts(self, spec: BackendSpec) -> TextToSpeech: ...

    def models(self, spec: BackendSpec) -> ModelListing: ...

    def voice_options_schema(self) -> dict[str, Any]:
        """JSON Schema of the per-agent voice options (``tts.config.<type>``) for the UI."""
        ...
