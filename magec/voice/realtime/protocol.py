"""Magec's voice-events protocol, without I/O: one :class:`VoiceEventsSession` per connection.

Messages are JSON ``{"type": ..., "data": ...}`` text frames, audio is binary:

* server → client on connect: ``capabilities`` ``{"wakewords": {"models": [{id, name, phrase}],
  "active": id}, "vad": {"enabled": true, "silenceTimeout": ms}}`` (sent again after ``setModel``);
* client → server: ``config`` ``{"sampleRate": n, "model"?: id}`` (the rate of the audio that
  follows; 16000 until told), ``setModel`` ``{"model": id}``;
* client → server binary: little-endian float32 mono PCM in [-1, 1] at the configured rate;
* server → client: ``wakeword`` ``{"model": id}``, ``speech_start`` / ``speech_end``
  ``{"at": seconds}`` (when, in the stream's audio time, speech started / the last speech frame
  was; Magec sends no data, its clients ignore it), ``error`` ``{"message": ..., "code": ...}``.

:meth:`VoiceEventsSession.on_text` / :meth:`VoiceEventsSession.on_audio` return the messages to
send; a :class:`Refusal` means "send this error, then close with this code". Bad input never
raises anything else: it is answered with an ``error`` message naming what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from magec import jsontext
from magec.config import RealtimeVoiceConfig
from magec.errors import ValidationError
from magec.voice.realtime.detectors import (
    SpeechDetector,
    WakeWordDetector,
    WakeWordModel,
    available_models,
    to_int16,
)
from magec.voice.realtime.limits import (
    FRAME_BURST,
    FRAMES_PER_SECOND,
    MAX_FRAME_BYTES,
    AudioBudget,
    MessageBudget,
)
from magec.voice.realtime.resample import TARGET_RATE, Resampler

Message = dict[str, Any]
#: close codes: 1008 policy violation, 1009 message too big, 1013 try again later, 4401 unauthorised
CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_TRY_LATER, CLOSE_UNAUTHORISED = 1008, 1009, 1013, 4401
MAX_TEXT_BYTES = 4096


#: the ``code`` of an ``error`` message: this protocol's own vocabulary (docs/voice.md), not
#: :mod:`magec.errors`' (a refusal's code names why the connection closes; ``unauthorized`` is
#: the tree's word for the same thing)
ErrorCode = Literal[
    "invalid_message", "invalid_config", "unknown_model", "invalid_audio",
    "unauthorized", "too_many_connections", "too_fast", "too_many_frames", "too_many_messages", "message_too_big",
    "frame_too_big",
    "disabled",
]


def error(message: str, code: ErrorCode) -> Message:
    return {"type": "error", "data": {"message": message, "code": code}}


@dataclass
class Refusal(Exception):
    message: Message
    close_code: int


class VoiceEventsSession:
    def __init__(self, settings: RealtimeVoiceConfig, budget: AudioBudget | None = None) -> None:
        shipped = available_models()
        self.settings = settings
        self.models: dict[str, WakeWordModel] = {m: shipped[m] for m in settings.wakewords if m in shipped}
        self.budget = budget or AudioBudget()
        self.messages = MessageBudget()
        self.frames = MessageBudget(burst=FRAME_BURST, per_second=FRAMES_PER_SECOND)
        self.sample_rate = TARGET_RATE
        self._resampler = Resampler(TARGET_RATE)
        self.wakeword = self._detector(settings.wakeword)
        self.vad = SpeechDetector(settings.vad_threshold, settings.silence_timeout_ms)

    def _detector(self, model_id: str) -> WakeWordDetector:
        return WakeWordDetector(self.models[model_id], self.settings.threshold)

    def capabilities(self) -> Message:
        return {
            "type": "capabilities",
            "data": {
                "wakewords": {
                    "models": [m.info() for m in self.models.values()],
                    "active": self.wakeword.model.id,
                },
                "vad": {"enabled": True, "silenceTimeout": self.settings.silence_timeout_ms},
            },
        }

    def close(self) -> None:
        self.wakeword.close()

    # -- client text messages -------------------------------------------------------------------

    def on_text(self, text: str) -> list[Message]:
        if not self.messages.spend():
            raise Refusal(error("too many messages: at most a few per second", "too_many_messages"), CLOSE_POLICY)
        if len(text) > MAX_TEXT_BYTES:
            raise Refusal(error(f"text messages are limited to {MAX_TEXT_BYTES} bytes", "message_too_big"), CLOSE_TOO_BIG)
        try:  # magec's parser: NaN / Infinity (a sampleRate no int() takes) and deep nesting
            msg = jsontext.decode(text, "message")  # (RecursionError) are a bad message, not a crash
        except ValidationError:
            return [error("message is not valid JSON", "invalid_message")]
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            return [error('message must be an object with a "type"', "invalid_message")]
        raw = msg.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if msg["type"] == "config":
            return self._config(data)
        if msg["type"] == "setModel":
            model = data.get("model")
            problem = self._set_model(model)
            return [problem] if problem else [self.capabilities()]
        return [error(f"unknown message type {msg['type']!r}", "invalid_message")]

    def _config(self, data: dict[str, Any]) -> list[Message]:
        out: list[Message] = []
        rate = data.get("sampleRate")
        if rate is not None:
            if not isinstance(rate, int | float) or isinstance(rate, bool) or int(rate) != rate:
                return [error("data.sampleRate: must be an integer (Hz)", "invalid_config")]
            try:
                resampler = Resampler(int(rate))
            except ValueError as e:
                return [error(f"data.sampleRate: {e}", "invalid_config")]
            if int(rate) != self.sample_rate:
                self.sample_rate, self._resampler = int(rate), resampler
        model = data.get("model")
        if model:  # Magec's client sends its active model (possibly null) with every config
            problem = self._set_model(model)
            if problem:
                out.append(problem)
        return out

    def _set_model(self, model: Any) -> Message | None:
        if not isinstance(model, str) or model not in self.models:
            offered = ", ".join(self.models)
            return error(f"data.model: unknown wake word model {model!r}; available: {offered}", "unknown_model")
        if model != self.wakeword.model.id:
            self.wakeword.close()
            self.wakeword = self._detector(model)
        return None

    # -- client audio ---------------------------------------------------------------------------

    def on_audio(self, data: bytes) -> list[Message]:
        if len(data) > MAX_FRAME_BYTES:
            raise Refusal(
                error(f"audio frames are limited to {MAX_FRAME_BYTES} bytes", "frame_too_big"), CLOSE_TOO_BIG
            )
        if not self.frames.spend():
            raise Refusal(error("too many audio frames: send microphone audio in frames of a few "
                                "milliseconds or more (Magec's clients send 4096 samples)", "too_many_frames"),
                          CLOSE_POLICY)
        if len(data) % 4:
            return [error("audio frames must be little-endian float32 samples (length a multiple of 4)", "invalid_audio")]
        samples = np.frombuffer(data, dtype="<f4")
        if not self.budget.spend(samples.size / self.sample_rate):
            raise Refusal(
                error("audio arrives faster than real time: send microphone audio as it is captured", "too_fast"),
                CLOSE_POLICY,
            )
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
        pcm = to_int16(self._resampler.process(samples))
        out: list[Message] = []
        if pcm.size == 0:
            return out
        # VAD first: the wake word usually ends after speech started, and clients expect that order
        for kind, at in self.vad.process(pcm):
            out.append({"type": kind, "data": {"at": at}})
        if self.wakeword.process(pcm):
            out.append({"type": "wakeword", "data": {"model": self.wakeword.model.id}})
        return out
