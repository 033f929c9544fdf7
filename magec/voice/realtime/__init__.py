"""The realtime voice channel's engine: Magec's voice-events protocol, wake word, VAD, limits.

:mod:`.protocol` (one sans-I/O session per connection), :mod:`.detectors` (microWakeWord and
microVAD, models shipped in their PyPI packages), :mod:`.resample` (browser rate → 16 kHz) and
:mod:`.limits` (connection count, audio budget). The WebSocket endpoint is
:mod:`magec.api.user.voice_events`; the protocol is documented in docs/voice.md.
"""

from magec.voice.realtime.limits import AudioBudget, ConnectionLimiter
from magec.voice.realtime.protocol import (
    CLOSE_POLICY,
    CLOSE_TRY_LATER,
    CLOSE_UNAUTHORISED,
    Refusal,
    VoiceEventsSession,
    error,
)

__all__ = [
    "CLOSE_POLICY",
    "CLOSE_TRY_LATER",
    "CLOSE_UNAUTHORISED",
    "AudioBudget",
    "ConnectionLimiter",
    "Refusal",
    "VoiceEventsSession",
    "error",
]
