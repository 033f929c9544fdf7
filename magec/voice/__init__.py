"""Per-agent voice: speech-to-text and text-to-speech through the agent's own backends.

No HTTP here (see :mod:`magec.api.user.voice`): :mod:`~magec.voice.resolve` picks the speaking
agent and its backend/model/voice/options from the store, :mod:`~magec.voice.audio` sniffs MIME
types and measures durations, :mod:`~magec.voice.service` runs the calls and records usage.
"""

from magec.voice.audio import duration_seconds, effective_mime, sniff_mime
from magec.voice.resolve import NOT_CONFIGURED, AppRef, VoiceTarget, flow_agent_ids, locate, resolve
from magec.voice.service import check_upload, parse_speech_request, synthesize, transcribe

__all__ = [
    "NOT_CONFIGURED",
    "AppRef",
    "VoiceTarget",
    "check_upload",
    "duration_seconds",
    "effective_mime",
    "flow_agent_ids",
    "locate",
    "parse_speech_request",
    "resolve",
    "sniff_mime",
    "synthesize",
    "transcribe",
]
