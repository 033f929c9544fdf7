"""Audio inspection without decoding: MIME sniffing and (best-effort) duration.

* :func:`sniff_mime` recognises WAV, MP3, Ogg (Opus/Vorbis), WebM/Matroska, MP4/M4A, FLAC and ADTS
  AAC from their magic bytes. Clients often send ``application/octet-stream`` or a wrong type, so
  the sniffed type wins over the declared one; an unrecognised payload keeps a declared ``audio/*``
  type and is otherwise rejected by :func:`effective_mime`.
* :func:`duration_seconds` is exact for PCM WAV (header arithmetic, tolerant of streaming headers
  with a bogus size), reads the container's own duration for Ogg (last granule position), M4A
  (``mvhd``) and WebM (Segment Info ``Duration``), uses the Xing/Info frame count of MP3 files (else
  size / first-frame bitrate), and returns ``0.0`` when it cannot tell. It never raises.
"""

from __future__ import annotations

import math
import struct

from magec.backends.audio_formats import AAC, FLAC, M4A, MP3, OGG, WAV, WEBM
from magec.errors import ValidationError

SUPPORTED = "wav, mp3, ogg/opus, webm or m4a"

# MPEG-1 layer III bitrates (kbit/s) by index; MPEG-2/2.5 layer III below.
_MP3_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0)
_MP3_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0)
_MP3_RATES = (44100, 48000, 32000)


def sniff_mime(data: bytes) -> str | None:
    """The MIME type ``data`` starts like, or ``None`` when it is not a recognised audio container."""
    head = data[:64]
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"OggS":
        return OGG
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return WEBM
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return M4A
    if head[:4] == b"fLaC":
        return FLAC
    if head[:3] == b"ID3":
        return MP3
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # frame sync: layer bits 00 = ADTS AAC, anything else = MPEG audio
        return AAC if head[1] & 0x06 == 0 else MP3
    return None


def effective_mime(data: bytes, declared: str | None) -> str:
    """The MIME type to forward: sniffed, else a declared ``audio/*`` (or ``video/webm``/``video/mp4``)
    type; ``ValidationError(field="file")`` when the payload is not recognisable audio."""
    sniffed = sniff_mime(data)
    if sniffed:
        return sniffed
    base = (declared or "").split(";", 1)[0].strip().lower()
    if base.startswith("audio/") or base in ("video/webm", "video/mp4", "video/ogg"):
        return base.replace("video/", "audio/")
    raise ValidationError(f"file: unrecognised audio format (expected {SUPPORTED})", field="file")


#: the lowest bit rate believed for real audio (bits per second): Opus and AMR speech at their
#: lowest go a few times above it, so no honest file claims more than its bytes hold at this rate
MIN_BITRATE = 1000


def duration_seconds(data: bytes, mime: str | None = None) -> float:
    """Best-effort length of the audio in seconds (``0.0`` when unknown), at most what ``data``
    holds at :data:`MIN_BITRATE`.

    Why bounded: the duration comes from the file's own header, which the client wrote. A WebM
    Duration of NaN or infinity made the usage row unstorable (NaN is no JSON, SQLite stores it as
    NULL: the whole batch of usage rows was lost) and a header claiming years of audio in a few
    bytes would be billed per second. Not finite or negative is unknown (0); more than the bytes can
    hold is cut to what they can."""
    seconds = _claimed_seconds(data, mime)
    if not math.isfinite(seconds) or seconds <= 0:
        return 0.0
    return min(seconds, len(data) * 8 / MIN_BITRATE)


def _claimed_seconds(data: bytes, mime: str | None) -> float:
    kind = mime or sniff_mime(data)
    try:
        if kind == WAV:
            return _wav_duration(data)
        if kind == OGG:
            return _ogg_duration(data)
        if kind == M4A:
            return _mp4_duration(data)
        if kind == WEBM:
            return _webm_duration(data)
        if kind == MP3:
            return _mp3_duration(data)
    except (struct.error, IndexError, ValueError, ZeroDivisionError, OverflowError):
        return 0.0
    return 0.0


def _wav_duration(data: bytes) -> float:
    pos, byte_rate = 12, 0
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt " and size >= 16:
            byte_rate = struct.unpack_from("<I", data, body + 8)[0]
        elif cid == b"data":
            available = len(data) - body
            # streaming writers leave 0 or 0xFFFFFFFF; trust the bytes actually present
            length = available if size in (0, 0xFFFFFFFF) or size > available else size
            return length / byte_rate if byte_rate else 0.0
        pos = body + size + (size & 1)
    return 0.0


def _ogg_duration(data: bytes) -> float:
    rate = 48000  # Opus granule positions always count 48 kHz samples
    vorbis = data.find(b"\x01vorbis", 0, 512)
    if vorbis >= 0:
        rate = struct.unpack_from("<I", data, vorbis + 12)[0]
    last = data.rfind(b"OggS")
    while last >= 0:
        granule = struct.unpack_from("<q", data, last + 6)[0]
        if granule > 0:
            pre_skip = 0
            head = data.find(b"OpusHead", 0, 512)
            if head >= 0:
                pre_skip = struct.unpack_from("<H", data, head + 10)[0]
            return max(granule - pre_skip, 0) / rate
        last = data.rfind(b"OggS", 0, last)
    return 0.0


def _mp4_duration(data: bytes) -> float:
    at = data.find(b"mvhd")
    if at < 0:
        return 0.0
    version = data[at + 4]
    if version == 1:
        timescale, duration = struct.unpack_from(">IQ", data, at + 8 + 16)
    else:
        timescale, duration = struct.unpack_from(">II", data, at + 8 + 8)
    return duration / timescale if timescale else 0.0


def _webm_duration(data: bytes) -> float:
    scale_ns = 1_000_000
    at = data.find(b"\x2a\xd7\xb1")  # TimecodeScale
    if at >= 0:
        size = data[at + 3] & 0x7F if data[at + 3] & 0x80 else 0
        if 0 < size <= 8:
            scale_ns = int.from_bytes(data[at + 4 : at + 4 + size], "big") or scale_ns
    at = data.find(b"\x44\x89")  # Duration (float, in timecode ticks)
    if at < 0:
        return 0.0
    marker = data[at + 2]
    if marker == 0x84:
        ticks = struct.unpack_from(">f", data, at + 3)[0]
    elif marker == 0x88:
        ticks = struct.unpack_from(">d", data, at + 3)[0]
    else:
        return 0.0
    return max(float(ticks), 0.0) * scale_ns / 1e9


def _mp3_duration(data: bytes) -> float:
    """Xing/Info frame count when present (VBR and LAME files), else size / first-frame bitrate."""
    pos = 0
    if data[:3] == b"ID3":
        size = data[6:10]
        pos = 10 + ((size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3])
    while pos + 4 <= len(data):
        if data[pos] == 0xFF and data[pos + 1] & 0xE0 == 0xE0 and data[pos + 1] & 0x06:
            version = (data[pos + 1] >> 3) & 0x03  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
            rate_index = (data[pos + 2] >> 2) & 0x03
            kbps = (_MP3_V1 if version == 3 else _MP3_V2)[data[pos + 2] >> 4]
            if rate_index < 3 and kbps:
                rate = _MP3_RATES[rate_index] // (1 if version == 3 else 2 if version == 2 else 4)
                per_frame = 1152 if version == 3 else 576
                tag = max(data.find(b"Xing", pos, pos + 64), data.find(b"Info", pos, pos + 64))
                if tag >= 0 and struct.unpack_from(">I", data, tag + 4)[0] & 1:
                    frames = struct.unpack_from(">I", data, tag + 8)[0]
                    return frames * per_frame / rate
                return (len(data) - pos) * 8 / (kbps * 1000)
        pos += 1
    return 0.0
