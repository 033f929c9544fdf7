"""The one audio-format table: MIME types, TTS response formats and upload file extensions.

Every backend's TTS maps a ``response_format`` name to the content type it answers with through
:data:`CONTENT_TYPES`, every STT upload that needs a file name gets it from :func:`extension`, and
:mod:`magec.voice.audio` sniffs uploads into the same MIME constants, so a format is named in one
place. Which formats a given provider can produce stays with that provider (e.g. Gemini: wav, pcm).
"""

from __future__ import annotations

WAV = "audio/wav"
MP3 = "audio/mpeg"
OGG = "audio/ogg"
WEBM = "audio/webm"
M4A = "audio/mp4"
FLAC = "audio/flac"
AAC = "audio/aac"
PCM = "audio/pcm"

#: TTS ``response_format`` name → the content type of the audio it produces (OpenAI's names;
#: ``opus`` is Opus in an Ogg container, ``aac`` is ADTS, ``pcm`` raw 16-bit samples)
CONTENT_TYPES: dict[str, str] = {
    "mp3": MP3,
    "opus": OGG,
    "aac": AAC,
    "flac": FLAC,
    "wav": WAV,
    "pcm": PCM,
}

#: audio MIME type, with the aliases clients send, → file extension (for providers that want a name)
EXTENSIONS: dict[str, str] = {
    WAV: "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    MP3: "mp3",
    "audio/mp3": "mp3",
    OGG: "ogg",
    "audio/opus": "ogg",
    WEBM: "webm",
    FLAC: "flac",
    M4A: "m4a",
    "audio/m4a": "m4a",
    "audio/x-m4a": "m4a",
    AAC: "aac",
}


def extension(mime: str, default: str = "wav") -> str:
    """The file extension for ``mime`` (parameters ignored), ``default`` when it is not known."""
    return EXTENSIONS.get(mime.split(";", 1)[0].strip().lower(), default)
