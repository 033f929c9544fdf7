"""MIME sniffing and durations: real encodings of espeak-ng speech (PyAV) and crafted headers."""

from __future__ import annotations

import io
import struct
import wave

import pytest

from magec.errors import ValidationError
from magec.voice.audio import duration_seconds, effective_mime, sniff_mime
from tests.voice.helpers import wav_info


def pcm_wav(seconds: float, rate: int = 16000, data_size: int | None = None, extra_chunk: bool = False) -> bytes:
    frames = int(seconds * rate)
    pcm = b"\x01\x00" * frames
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16)
    lst = b"LIST" + struct.pack("<I", 5) + b"INFOx\x00" if extra_chunk else b""  # odd size: padded
    body = b"WAVE" + fmt + lst + b"data" + struct.pack("<I", len(pcm) if data_size is None else data_size) + pcm
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_wav(speech_wav: bytes) -> None:
    assert sniff_mime(speech_wav) == "audio/wav"
    assert duration_seconds(speech_wav) == pytest.approx(wav_info(speech_wav)[3], rel=1e-6)
    assert duration_seconds(pcm_wav(1.5)) == pytest.approx(1.5)
    assert duration_seconds(pcm_wav(2.0, extra_chunk=True)) == pytest.approx(2.0)
    # streaming writers: unknown (0xFFFFFFFF) or too-large data sizes → the bytes present count
    assert duration_seconds(pcm_wav(0.75, data_size=0xFFFFFFFF)) == pytest.approx(0.75)
    assert duration_seconds(pcm_wav(0.5, data_size=10**8)) == pytest.approx(0.5)
    with wave.open(io.BytesIO(pcm_wav(0.25))) as w:
        assert w.getnframes() == 4000


def test_crafted_headers() -> None:
    opus_head = b"OpusHead\x01\x01" + struct.pack("<H", 312) + struct.pack("<I", 48000) + b"\x00\x00\x00"
    page = lambda granule, payload: b"OggS\x00\x00" + struct.pack("<q", granule) + b"\x00" * 13 + payload  # noqa: E731
    # each file carries enough bytes for its claim (duration_seconds believes at most 1 kbit/s)
    ogg = page(0, opus_head) + page(48000 * 3 + 312, b"x" * 400)
    assert sniff_mime(ogg) == "audio/ogg" and duration_seconds(ogg) == pytest.approx(3.0)
    mvhd = b"\x00\x00\x00\x6cmvhd\x00\x00\x00\x00" + struct.pack(">IIII", 0, 0, 1000, 4250)
    m4a = b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A mp42" + b"\x00\x00\x00\x74moov" + mvhd + b"\x00" * 600
    assert sniff_mime(m4a) == "audio/mp4" and duration_seconds(m4a) == pytest.approx(4.25)
    webm = (b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm" + b"\x2a\xd7\xb1\x83\x0f\x42\x40"
            + b"\x44\x89\x88" + struct.pack(">d", 2500.0) + b"\x00" * 400)
    assert sniff_mime(webm) == "audio/webm" and duration_seconds(webm) == pytest.approx(2.5)
    mp3 = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + b"\xff\xfb\x90\x64" + b"\x00" * 15996  # 128 kbit/s
    assert sniff_mime(mp3) == "audio/mpeg" and duration_seconds(mp3) == pytest.approx(1.0)
    assert sniff_mime(b"\xff\xf1\x50\x80" + b"\x00" * 20) == "audio/aac"
    assert sniff_mime(b"fLaC\x00\x00\x00\x22") == "audio/flac"
    assert sniff_mime(b"hello") is None and duration_seconds(b"hello", "audio/webm") == 0.0
    assert duration_seconds(b"RIFF\x00\x00\x00\x00WAVEfmt ") == 0.0  # truncated: no crash
    # a claim the bytes cannot hold is cut to what they can at 1 kbit/s; NaN and infinity are unknown
    assert duration_seconds(webm[:-400]) == pytest.approx(len(webm[:-400]) * 8 / 1000)
    for bad in (float("nan"), float("inf"), -5.0):
        assert duration_seconds(webm[:-408] + struct.pack(">d", bad) + b"\x00" * 400) == 0.0


def test_effective_mime() -> None:
    assert effective_mime(pcm_wav(0.1), "application/octet-stream") == "audio/wav"
    assert effective_mime(pcm_wav(0.1), "audio/mpeg") == "audio/wav"  # sniffed type wins
    assert effective_mime(b"opaque", "audio/L16; rate=16000") == "audio/l16"
    assert effective_mime(b"opaque", "video/webm;codecs=opus") == "audio/webm"
    with pytest.raises(ValidationError) as err:
        effective_mime(b"plain text", "text/plain")
    assert err.value.field == "file"


@pytest.mark.parametrize(("container", "codec", "mime"), [
    ("mp3", "libmp3lame", "audio/mpeg"),
    ("ogg", "libopus", "audio/ogg"),
    ("webm", "libopus", "audio/webm"),
    ("ipod", "aac", "audio/mp4"),  # .m4a
])
def test_real_encodings(speech_wav: bytes, container: str, codec: str, mime: str) -> None:
    av = pytest.importorskip("av")
    seconds = wav_info(speech_wav)[3]
    src = av.open(io.BytesIO(speech_wav))
    out_buf = io.BytesIO()
    out = av.open(out_buf, "w", format=container)
    rate = 48000 if codec == "libopus" else 22050
    stream = out.add_stream(codec, rate=rate)
    resampler = av.AudioResampler(format=stream.codec_context.format or "s16", layout="mono", rate=rate)
    for frame in src.decode(audio=0):
        for res in resampler.resample(frame):
            for packet in stream.encode(res):
                out.mux(packet)
    for res in resampler.resample(None):
        for packet in stream.encode(res):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    data = out_buf.getvalue()
    assert sniff_mime(data) == mime
    measured = duration_seconds(data)
    assert measured == pytest.approx(seconds, abs=0.15), (container, measured, seconds)
