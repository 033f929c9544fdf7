"""Encoding synthesised speech into the formats the voice API offers. Pure functions, blocking.

:data:`FORMATS` maps a format name to its content type. ``wav`` and ``pcm`` need only the standard
library. ``mp3``, ``opus`` (Ogg), ``aac`` (ADTS) and ``flac`` are encoded in-process by PyAV (the
FFmpeg libraries bundled with ``av``, a dependency of faster-whisper in ``magec[local]``), or by an
``ffmpeg`` executable on ``PATH`` when PyAV is missing. :func:`encoder_for` raises
:class:`~magec.errors.ValidationError` (``field="format"``) naming the format when neither exists or
the format is unknown, before any synthesis work is done.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from collections.abc import Callable
from importlib.util import find_spec

from magec.backends.audio_formats import CONTENT_TYPES
from magec.backends.local._deps import BACKEND
from magec.errors import BackendError, ValidationError
from magec.procenv import minimal_env

FORMATS = CONTENT_TYPES  # every format of the shared table is produced here
# format -> (PyAV container, codec, sample rate or None = keep)
_AV: dict[str, tuple[str, str, int | None]] = {
    "mp3": ("mp3", "libmp3lame", None),
    "opus": ("ogg", "libopus", 48000),
    "aac": ("adts", "aac", None),
    "flac": ("flac", "flac", None),
}
_FFMPEG: dict[str, list[str]] = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"],
    "opus": ["-c:a", "libopus", "-b:a", "32k", "-ar", "48000", "-f", "ogg"],
    "aac": ["-c:a", "aac", "-b:a", "64k", "-f", "adts"],
    "flac": ["-c:a", "flac", "-f", "flac"],
}

Encoder = Callable[[bytes], bytes]


def _read_wav(wav_bytes: bytes) -> tuple[bytes, int, int]:
    with wave.open(io.BytesIO(wav_bytes)) as wf:
        return wf.readframes(wf.getnframes()), wf.getframerate(), wf.getnchannels()


def pcm_of(wav_bytes: bytes) -> bytes:
    """The raw 16-bit little-endian samples of a WAV file."""
    return _read_wav(wav_bytes)[0]


def _encode_av(wav_bytes: bytes, fmt: str) -> bytes:
    import av
    import numpy as np
    from av.audio.stream import AudioStream

    container, codec, out_rate = _AV[fmt]
    pcm, rate, channels = _read_wav(wav_bytes)
    layout = "mono" if channels == 1 else "stereo"
    samples = np.frombuffer(pcm, dtype=np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout=layout)
    frame.sample_rate = rate
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=out_rate or rate, layout=layout)
        assert isinstance(stream, AudioStream)
        resampler = av.AudioResampler(
            format=stream.codec_context.format, layout=layout, rate=out_rate or rate
        )
        for chunk in (frame, None):
            for resampled in resampler.resample(chunk):
                for packet in stream.encode(resampled):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _encode_ffmpeg(ffmpeg: str, fmt: str) -> Encoder:
    def encode(wav_bytes: bytes) -> bytes:
        cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", "pipe:0", *_FFMPEG[fmt], "pipe:1"]
        proc = subprocess.run(cmd, input=wav_bytes, capture_output=True, check=False, env=minimal_env())
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace")[-300:]
            raise BackendError(f"ffmpeg could not encode {fmt}: {err}", backend=BACKEND)
        return proc.stdout

    return encode


def encoder_for(fmt: str) -> Encoder:
    """A WAV → ``fmt`` encoder usable on this install, or ValidationError(field="format")."""
    if fmt not in FORMATS:
        raise ValidationError(
            f"unsupported audio format {fmt!r} for the local backend (expected one of: {', '.join(FORMATS)})",
            field="format",
        )
    if fmt == "wav":
        return lambda wav_bytes: wav_bytes
    if fmt == "pcm":
        return pcm_of
    if find_spec("av") is not None:
        return lambda wav_bytes: _encode_av(wav_bytes, fmt)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is not None:
        return _encode_ffmpeg(ffmpeg, fmt)
    raise ValidationError(
        f"audio format {fmt!r} needs PyAV (install magec[local]) or an ffmpeg executable; "
        "use 'wav' or 'pcm', or install one of them",
        field="format",
    )
