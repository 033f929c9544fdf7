"""Voice calls: transcribe an upload and synthesise speech for a resolved :class:`VoiceTarget`.

Contracts:

* :func:`check_upload` — empty audio → ``ValidationError`` (400, field ``file``); more than
  ``limit`` bytes → ``PayloadTooLargeError`` (413).
* :func:`transcribe` — forwards the audio with its sniffed MIME type, the agent's model and provider
  options (client ``language`` / ``prompt`` added on top), records ``stt`` usage with the audio
  seconds, returns the text.
* :func:`synthesize` — validates the text, starts synthesis with the agent's model, voice and
  provider options, and waits for the first audio chunk, so any failure before the first byte
  raises here (the HTTP layer turns it into a JSON error). The returned :class:`SpeechResult`
  streams the first chunk and then the rest as it arrives; ``tts`` usage (characters) is recorded
  once audio started. The backend connection is closed when the stream ends or is abandoned.

Only :mod:`magec.errors` types are raised; backend errors keep their status (502, 504, 400).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from magec.backends import Policy, resilient_call
from magec.backends.base import SpeechResult
from magec.backends.fallback import moves_on
from magec.errors import PayloadTooLargeError, ValidationError
from magec.redact import redact
from magec.voice.audio import duration_seconds, effective_mime
from magec.voice.resolve import VoiceTarget

log = logging.getLogger(__name__)


class UsageSink(Protocol):
    """What :class:`magec.runtime.usage.UsageRecorder` offers (structural, for tests)."""

    def record(
        self,
        agent_id: str,
        backend_id: str,
        kind: str,
        model: str = "",
        *,
        audio_seconds: float = 0.0,
        characters: int = 0,
    ) -> None: ...


def check_upload(data: bytes, limit: int) -> None:
    """Reject an empty upload (400) or one larger than ``limit`` bytes (413)."""
    if not data:
        raise ValidationError("file: the uploaded audio is empty", field="file")
    if len(data) > limit:
        raise PayloadTooLargeError(f"file: the upload is larger than the {_size(limit)} limit")


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"


async def _close(role_impl: Any) -> None:
    """Close the backend connection a role object holds, if it has one (best effort)."""
    closer = getattr(getattr(role_impl, "connection", None), "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


async def transcribe(
    target: VoiceTarget,
    audio: bytes,
    declared_mime: str | None,
    usage: UsageSink | None,
    *,
    limit: int,
    language: str | None = None,
    prompt: str | None = None,
) -> str:
    """The text spoken in ``audio`` (see the module contract)."""
    check_upload(audio, limit)
    mime = effective_mime(audio, declared_mime)
    extra: dict[str, Any] = {}  # the client's hints, on top of each link's own provider options
    if language and language.strip():
        extra["language"] = language.strip()
    if prompt and prompt.strip():
        extra["prompt"] = prompt.strip()
    chain = (target, *target.fallbacks)
    for index, link in enumerate(chain):
        stt = link.backend_type.stt(link.spec)
        try:
            text = await resilient_call(
                _policy(link, last=index == len(chain) - 1),
                lambda: stt.transcribe(audio, mime, link.model, {**link.options, **extra}),  # noqa: B023 - awaited in this iteration
            )
        except Exception as exc:
            if index == len(chain) - 1 or not moves_on(exc):
                raise
            _moved_on(link, chain[index + 1], exc)
            continue
        finally:
            await _close(stt)
        if usage is not None:
            usage.record(
                target.agent.id, link.spec.id, "stt", link.model, audio_seconds=duration_seconds(audio, mime)
            )
        return text
    raise AssertionError("unreachable: the chain has at least one link")


def _moved_on(failed: VoiceTarget, nxt: VoiceTarget, exc: BaseException) -> None:
    log.warning(
        "%s of agent %s: %s failed, using fallback %s: %s",
        "speech-to-text" if failed.role == "stt" else "text-to-speech",
        failed.agent.name or failed.agent.id,
        failed.spec.name or failed.spec.id,
        nxt.spec.name or nxt.spec.id,
        redact(str(exc))[:300],
    )


def parse_speech_request(body: Any) -> tuple[str, str | None]:
    """``(input, response_format)`` from the client's JSON body; nothing else is read from it."""
    if not isinstance(body, Mapping):
        raise ValidationError("request body must be a JSON object")
    text = body.get("input")
    if text is None or text == "":
        raise ValidationError("input: is required", field="input")
    if not isinstance(text, str):
        raise ValidationError("input: must be a string", field="input")
    if not text.strip():
        raise ValidationError("input: must not be blank", field="input")
    fmt = body.get("response_format", body.get("responseFormat"))
    if fmt is not None and not isinstance(fmt, str):
        raise ValidationError("response_format: must be a string", field="response_format")
    return text, (fmt or None)


async def synthesize(
    target: VoiceTarget, text: str, response_format: str | None, usage: UsageSink | None
) -> SpeechResult:
    """Start speech for ``text``; returns once the first audio bytes are in (see the contract).
    A link that fails before its first audio byte moves on to the next fallback."""
    chain = (target, *target.fallbacks)
    for index, link in enumerate(chain):
        try:
            return await _synthesize_one(link, text, response_format, usage, last=index == len(chain) - 1)
        except Exception as exc:
            if index == len(chain) - 1 or not moves_on(exc):
                raise
            _moved_on(link, chain[index + 1], exc)
    raise AssertionError("unreachable: the chain has at least one link")


def _policy(link: VoiceTarget, last: bool) -> Policy:
    """The link's deadlines and retries; a link with a fallback after it fails over instead of retrying."""
    policy = Policy.of(link.spec, link.spec.name or link.spec.id)
    return policy if last else dataclasses.replace(policy, max_attempts=1)


async def _synthesize_one(
    target: VoiceTarget, text: str, response_format: str | None, usage: UsageSink | None, last: bool = True
) -> SpeechResult:
    """One link: started (and retried, under the backend's deadlines) until its first audio byte."""
    return await resilient_call(
        _policy(target, last),
        lambda: _start_speech(target, text, response_format, usage),
    )


async def _start_speech(
    target: VoiceTarget, text: str, response_format: str | None, usage: UsageSink | None
) -> SpeechResult:
    tts = target.backend_type.tts(target.spec)
    try:
        result = await tts.synthesize(text, target.model, target.voice, response_format, target.options)
    except BaseException:
        await _close(tts)
        raise
    upstream = result.chunks
    try:
        first = await anext(upstream)
        done = False
    except StopAsyncIteration:
        first, done = b"", True
    except BaseException:
        await _aclose(upstream)
        await _close(tts)
        raise
    if usage is not None:
        usage.record(target.agent.id, target.spec.id, "tts", target.model, characters=len(text))

    async def chunks() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            if not done:
                async for piece in upstream:
                    if piece:
                        yield piece
        finally:
            await _aclose(upstream)
            await _close(tts)

    return SpeechResult(content_type=result.content_type, chunks=chunks())


async def _aclose(iterator: AsyncIterator[bytes]) -> None:
    closer = getattr(iterator, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()
