"""In-process test doubles for every backend role (no network, no SDK): use them to test runtime,
agents, flows, memory and voice code. For adapter tests use the loopback servers in
:mod:`magec.testing.fake_providers` instead.

::

    from magec.backends.fake import FakeLlm, Turn, FakeEmbeddings, FakeBackendType

    llm = FakeLlm(Turn(calls=[("get_weather", {"city": "Tenerife"})]), "It is sunny.")
    agent = LlmAgent(name="a", model=llm, tools=[get_weather])   # ADK accepts any BaseLlm
    ...
    assert llm.requests[0].contents[-1].parts[0].text == "what's the weather?"

* :class:`FakeLlm` — an ADK ``BaseLlm`` that replays a script of :class:`Turn` (or ``str``, or an
  ``Exception`` to raise, or a ``callable(LlmRequest) -> Turn | str``). With the script empty it
  uses ``responder`` if given (one that returns None leaves that request to the default), else
  echoes ``"<name> says: <last user text>"``; after a tool
  result it answers ``"<name> says: tool result <json>"``; a user text like
  ``call get_weather {"city": "X"}`` makes it call that tool when offered. Streaming yields one
  partial per word, then the aggregate. Every request is kept in ``requests``.
* :class:`FakeEmbeddings` — deterministic unit vectors (:func:`deterministic_vector`) of ``dim``.
* :class:`FakeSpeechToText` / :class:`FakeTextToSpeech` — TTS audio embeds the text
  (:func:`fake_audio`) and STT reads it back (:func:`transcript_of`).
* :class:`FakeBackendType` — a whole backend type named ``"fake"`` (register it with
  ``registry.register(FakeBackendType())``); all its chat models share one script.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.adk.models import BaseLlm, LlmCapabilities, LlmRequest, LlmResponse
from google.genai import types
from pydantic import PrivateAttr

from magec.backends._llm import declarations, partial
from magec.backends.audio_formats import CONTENT_TYPES, MP3
from magec.backends.base import BackendSpec, Capabilities, Defaults, ModelInfo, SpeechResult

AUDIO_MARKER = b"FAKEAUDIO:"
CALL_PATTERN = re.compile(r"\bcall(?:\s+the)?(?:\s+tool)?\s+`?([A-Za-z_][\w.-]*)`?", re.I)


def deterministic_vector(text: str, dim: int) -> list[float]:
    """A unit vector derived from ``text`` only (equal texts → equal vectors)."""
    out: list[float] = []
    counter = 0
    while len(out) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    vec = out[:dim]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def fake_audio(text: str) -> bytes:
    """Bytes standing in for speech of ``text`` (even length, so they are valid 16-bit PCM)."""
    data = AUDIO_MARKER + text.encode()
    return data + (b"\0" if len(data) % 2 else b"")


def transcript_of(audio: bytes) -> str:
    """What a fake STT hears: the text :func:`fake_audio` embedded (anywhere), else a size note."""
    at = audio.find(AUDIO_MARKER)
    if at >= 0:
        return audio[at + len(AUDIO_MARKER) :].split(b"\0", 1)[0].decode(errors="replace")
    return f"audio of {len(audio)} bytes"


@dataclass
class Turn:
    """One scripted model turn: text and/or tool calls ``(name, args)`` / ``(name, args, id)``."""

    text: str | None = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    finish_reason: types.FinishReason = types.FinishReason.STOP
    usage: tuple[int, int] = (3, 5)


ScriptItem = Turn | str | BaseException | Callable[[LlmRequest], "Turn | str | None"]


def last_user_text(request: LlmRequest) -> str:
    for content in reversed(request.contents or []):
        if content.role == "user":
            texts = [p.text for p in content.parts or [] if p.text]
            if texts:
                return "".join(texts)
    return ""


def _last_tool_result(request: LlmRequest) -> Any:
    if not request.contents:
        return None
    for part in request.contents[-1].parts or []:
        if part.function_response is not None:
            return part.function_response.response
    return None


@dataclass
class FakeScript:
    """A queue of turns shared by any number of :class:`FakeLlm` instances."""

    items: list[ScriptItem] = field(default_factory=list)

    def add(self, *items: ScriptItem) -> None:
        self.items.extend(items)

    def pop(self) -> ScriptItem | None:
        return self.items.pop(0) if self.items else None


class FakeLlm(BaseLlm):
    """A scripted ADK model. ``FakeLlm(*script, model=..., name=..., responder=...)``."""

    _script: FakeScript = PrivateAttr()
    _responder: Callable[[LlmRequest], Turn | str | None] | None = PrivateAttr(default=None)
    _name: str = PrivateAttr(default="fake")
    _requests: list[LlmRequest] = PrivateAttr(default_factory=list)
    _record: bool = PrivateAttr(default=True)

    def __init__(
        self,
        *script: ScriptItem,
        model: str = "fake-llm",
        name: str = "fake",
        responder: Callable[[LlmRequest], Turn | str | None] | None = None,
        shared: FakeScript | None = None,
        record: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(model=model, **kw)
        self._script = shared if shared is not None else FakeScript()
        self._script.add(*script)
        self._responder = responder
        self._name = name
        self._requests = []
        #: keep every request in :attr:`requests` (tests); off for benches, which must not hold them
        self._record = record

    @property
    def capabilities(self) -> LlmCapabilities:
        return LlmCapabilities(output_schema_and_tools=True)

    @property
    def requests(self) -> list[LlmRequest]:
        return self._requests

    def script(self, *items: ScriptItem) -> None:
        self._script.add(*items)

    def _default(self, request: LlmRequest) -> Turn:
        result = _last_tool_result(request)
        if result is not None:
            return Turn(text=f"{self._name} says: tool result {json.dumps(result, default=str)}")
        text = last_user_text(request)
        offered = {fd.name for fd in declarations(request)}
        m = CALL_PATTERN.search(text)
        if m and m.group(1) in offered:
            jm = re.search(r"\{.*\}", text, re.S)
            try:
                args = json.loads(jm.group(0)) if jm else {}
            except ValueError:
                args = {}
            return Turn(calls=[(m.group(1), args)])
        return Turn(text=f"{self._name} says: {text}")

    def _next(self, request: LlmRequest) -> Turn:
        item = self._script.pop()
        if item is None:
            item = self._responder if self._responder is not None else self._default
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            item = item(request)
            if item is None:  # the responder leaves this one to the default echo
                return self._default(request)
        return Turn(text=item) if isinstance(item, str) else item

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        # a snapshot of what was asked: its own contents list (ADK builds fresh contents per call,
        # so the items are not mutated later; a deep copy made the double O(history) per call)
        if self._record:
            self._requests.append(llm_request.model_copy(update={"contents": list(llm_request.contents)}))
        turn = self._next(llm_request)
        if stream and turn.text:
            for word in re.findall(r"\S+\s*", turn.text):
                piece = partial(word)  # None: relayed to the edge (magec.backends.relay)
                if piece is not None:
                    yield piece
        parts: list[types.Part] = [types.Part.from_text(text=turn.text)] if turn.text else []
        for i, call in enumerate(turn.calls):
            name, args = call[0], call[1] if len(call) > 1 else {}
            call_id = call[2] if len(call) > 2 else f"fake-call-{len(self._requests)}-{i}"
            parts.append(types.Part(function_call=types.FunctionCall(id=call_id, name=name, args=args)))
        prompt, completion = turn.usage
        yield LlmResponse(
            content=types.Content(role="model", parts=parts),
            partial=False,
            turn_complete=True,
            finish_reason=turn.finish_reason,
            usage_metadata=types.GenerateContentResponseUsageMetadata(
                prompt_token_count=prompt,
                candidates_token_count=completion,
                total_token_count=prompt + completion,
            ),
        )


class FakeEmbeddings:
    """Deterministic embeddings; ``calls`` records ``(texts, model)``; ``fail`` is raised if set."""

    def __init__(self, dim: int = 8, fail: BaseException | None = None) -> None:
        self.dim = dim
        self.fail = fail
        self.calls: list[tuple[list[str], str]] = []

    async def embed(self, texts: list[str], model: str) -> list[list[float]]:
        self.calls.append((list(texts), model))
        if self.fail is not None:
            raise self.fail
        return [deterministic_vector(t, self.dim) for t in texts]


class FakeSpeechToText:
    """Returns ``text`` if given (or ``responder(audio)``), else what :func:`fake_audio` embedded."""

    def __init__(self, text: str | None = None, responder: Callable[[bytes], str] | None = None) -> None:
        self.text = text
        self.responder = responder
        self.calls: list[tuple[bytes, str, str, dict[str, Any]]] = []

    async def transcribe(
        self, audio: bytes, mime: str, model: str, options: Mapping[str, Any] | None = None
    ) -> str:
        self.calls.append((audio, mime, model, dict(options or {})))
        if self.responder is not None:
            return self.responder(audio)
        return self.text if self.text is not None else transcript_of(audio)




class FakeTextToSpeech:
    """Yields :func:`fake_audio` of the text in ``chunk``-byte pieces with the format's content type."""

    def __init__(self, chunk: int = 8) -> None:
        self.chunk = chunk
        self.calls: list[tuple[str, str, str, str | None, dict[str, Any]]] = []

    async def synthesize(
        self,
        text: str,
        model: str,
        voice: str,
        format: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> SpeechResult:
        self.calls.append((text, model, voice, format, dict(options or {})))
        audio = fake_audio(text)

        return SpeechResult.from_bytes(CONTENT_TYPES.get(format or "mp3", MP3), audio, self.chunk)


class FakeModels:
    def __init__(self, models: list[str] | None = None) -> None:
        self.ids = models or ["fake-llm", "fake-embed", "fake-tts", "fake-stt"]

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=m, owned_by="fake") for m in self.ids]


class FakeBackendType:
    """A backend type ``"fake"`` serving every role with the doubles above (one shared LLM script)."""

    name = "fake"
    display_name = "Fake (tests)"
    description = "In-process scripted doubles for tests"
    default_url = ""
    defaults = Defaults()

    def __init__(self, *, dim: int = 8, name: str = "fake", record: bool = True,
                 responder: Callable[[LlmRequest], Turn | str | None] | None = None) -> None:
        """``record=False``: the built LLMs keep no request and the type keeps no LLM (a bench
        measuring memory or the collector's work must not carry every request it ever sent).
        ``responder``: every built LLM's (see :class:`FakeLlm`)."""
        self.name = name
        self.record = record
        self.responder = responder
        self.script = FakeScript()
        self.embedder = FakeEmbeddings(dim)
        self.speech_to_text = FakeSpeechToText()
        self.text_to_speech = FakeTextToSpeech()
        self.llms: list[FakeLlm] = []

    @property
    def declared(self) -> Capabilities:
        return Capabilities(
            roles=["llm", "embeddings", "stt", "tts"], tools=True, streaming_tools=True, vision=True
        )

    def chat(self, spec: BackendSpec, model: str) -> FakeLlm:
        llm = FakeLlm(model=model, name=spec.name, shared=self.script, record=self.record,
                      responder=self.responder)
        if self.record:
            self.llms.append(llm)
        return llm

    def embeddings(self, spec: BackendSpec) -> FakeEmbeddings:
        return self.embedder

    def stt(self, spec: BackendSpec) -> FakeSpeechToText:
        return self.speech_to_text

    def tts(self, spec: BackendSpec) -> FakeTextToSpeech:
        return self.text_to_speech

    def models(self, spec: BackendSpec) -> FakeModels:
        return FakeModels()

    def voice_options_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {}}
