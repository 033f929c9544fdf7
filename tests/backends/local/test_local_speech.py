"""Whisper tiny.en transcription and piper synthesis, checked against each other and espeak-ng."""

from __future__ import annotations

import io
import wave

import pytest

from magec.backends.local.stt import LocalSTT
from magec.backends.local.tts import LocalTTS
from magec.errors import ValidationError

pytestmark = pytest.mark.local


def _words(text: str) -> set[str]:
    return {w.strip(".,!?").lower() for w in text.split()}


async def _bytes(tts: LocalTTS, text: str, fmt: str | None = None, **options: object) -> tuple[str, bytes]:
    result = await tts.synthesize(text, "tts-1", "", fmt, options or None)
    return result.content_type, b"".join([c async for c in result.chunks])


async def test_espeak_wav_is_transcribed(stt: LocalSTT, espeak_wav: bytes) -> None:
    text = await stt.transcribe(espeak_wav, "audio/wav", "whisper-1")
    assert {"remind", "call", "dentist", "tomorrow", "morning"} <= _words(text)


async def test_piper_wav_is_valid_and_transcribes_back(tts: LocalTTS, stt: LocalSTT) -> None:
    content_type, data = await _bytes(tts, "The weather is sunny and warm today.")
    assert content_type == "audio/wav"
    with wave.open(io.BytesIO(data)) as wf:
        assert wf.getnchannels() == 1 and wf.getsampwidth() == 2
        assert wf.getframerate() == 22050
        assert 1.0 < wf.getnframes() / wf.getframerate() < 10.0
    text = await stt.transcribe(data, content_type, "")
    assert {"weather", "sunny", "warm", "today"} <= _words(text)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac"])
async def test_compressed_formats_round_trip(tts: LocalTTS, stt: LocalSTT, fmt: str) -> None:
    content_type, data = await _bytes(tts, "The weather is sunny and warm today.", fmt)
    assert content_type == {"mp3": "audio/mpeg", "opus": "audio/ogg", "flac": "audio/flac"}[fmt]
    assert {"weather", "sunny", "warm"} <= _words(await stt.transcribe(data, content_type, ""))


async def test_webm_input_is_decoded(stt: LocalSTT, espeak_wav: bytes) -> None:
    av = pytest.importorskip("av")
    import numpy as np

    with wave.open(io.BytesIO(espeak_wav)) as wf:
        rate, pcm = wf.getframerate(), wf.readframes(wf.getnframes())
    frame = av.AudioFrame.from_ndarray(
        np.frombuffer(pcm, np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = rate
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=48000, layout="mono")
        resampler = av.AudioResampler(format=stream.codec_context.format, layout="mono", rate=48000)
        for chunk in (frame, None):
            for f in resampler.resample(chunk):
                for packet in stream.encode(f):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    text = await stt.transcribe(buf.getvalue(), "audio/webm;codecs=opus", "")
    assert {"dentist", "tomorrow"} <= _words(text)


async def test_pcm_and_speed(tts: LocalTTS) -> None:
    _, wav_bytes = await _bytes(tts, "One two three four five.")
    content_type, pcm = await _bytes(tts, "One two three four five.", "pcm")
    assert content_type == "audio/pcm"
    with wave.open(io.BytesIO(wav_bytes)) as wf:
        assert abs(len(pcm) - wf.getnframes() * 2) < 22050  # same utterance, ±0.5 s
    _, fast = await _bytes(tts, "One two three four five.", "pcm", speed=2.0)
    assert len(fast) < 0.75 * len(pcm)


async def test_bad_requests_are_validation_errors(tts: LocalTTS, stt: LocalSTT) -> None:
    with pytest.raises(ValidationError, match="'m4b'") as e:
        await tts.synthesize("hi", "", "", "m4b")
    assert e.value.field == "format"
    with pytest.raises(ValidationError):
        await tts.synthesize("   ", "", "")
    with pytest.raises(ValidationError) as e2:
        await stt.transcribe(b"not audio at all" * 50, "audio/wav", "")
    assert e2.value.field == "file"
    with pytest.raises(ValidationError):
        await stt.transcribe(b"x", "text/plain", "")
