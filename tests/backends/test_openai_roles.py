"""OpenAI embeddings, STT, TTS and model listing through the real SDK against the loopback fake."""

from __future__ import annotations

import asyncio
import time

import pytest
from backend_helpers import KEY, spec_for

from magec.backends import registry
from magec.errors import ValidationError
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply, deterministic_vector, fake_audio

OPENAI = registry.get("openai")


async def test_embeddings_batched_in_order(openai_srv: FakeServer) -> None:
    emb = OPENAI.embeddings(spec_for(openai_srv, "openai", headers={"X-E": "1"}))
    texts = [f"text {i}" for i in range(130)]
    vectors = await emb.embed(texts, "embed-small")
    assert len(vectors) == 130 and len(vectors[0]) == 16
    assert vectors[129] == pytest.approx(deterministic_vector("text 129", 16))
    reqs = openai_srv.provider.requests_to("embeddings")
    assert [len(r.json["input"]) for r in reqs] == [128, 2]
    assert reqs[0].path == "/v1/embeddings" and reqs[0].json["model"] == "embed-small"
    assert reqs[0].headers["authorization"] == f"Bearer {KEY}" and reqs[0].headers["x-e"] == "1"


async def test_stt_multipart_with_model_language_prompt(openai_srv: FakeServer) -> None:
    stt = OPENAI.stt(spec_for(openai_srv, "openai"))
    text = await stt.transcribe(
        fake_audio("buenos dias"), "audio/webm", "whisper-1", {"language": "es", "prompt": "hi"}
    )
    assert text == "buenos dias"
    rec = openai_srv.requests[-1]
    assert rec.path == "/v1/audio/transcriptions"
    assert rec.headers["content-type"].startswith("multipart/form-data")
    assert rec.form == {"model": "whisper-1", "language": "es", "prompt": "hi"}
    filename, ctype, data = rec.files["file"]
    assert filename == "audio.webm" and ctype == "audio/webm" and data.startswith(b"FAKEAUDIO:")


@pytest.mark.parametrize(
    ("fmt", "ctype"),
    [
        ("mp3", "audio/mpeg"),
        ("opus", "audio/ogg"),
        ("aac", "audio/aac"),
        ("flac", "audio/flac"),
        ("wav", "audio/wav"),
        ("pcm", "audio/pcm"),
    ],
)
async def test_tts_formats_and_content_types(openai_srv: FakeServer, fmt: str, ctype: str) -> None:
    tts = OPENAI.tts(spec_for(openai_srv, "openai"))
    result = await tts.synthesize("hola", "tts-1", "alloy", fmt, {"speed": 1.5})
    audio = b"".join([c async for c in result.chunks])
    assert result.content_type == ctype
    assert audio == fake_audio("hola")
    body = openai_srv.requests[-1].json
    assert body == {"model": "tts-1", "voice": "alloy", "input": "hola", "response_format": fmt, "speed": 1.5}


async def test_tts_streams_bytes_as_they_arrive(openai_srv: FakeServer) -> None:
    openai_srv.script(Reply(audio=b"A" * 64, chunk_delay=0.3), route="tts")
    result = await OPENAI.tts(spec_for(openai_srv, "openai")).synthesize("x", "tts-1", "alloy")
    start = time.monotonic()
    first = await result.chunks.__anext__()
    assert first and time.monotonic() - start < 0.25  # first chunk long before the 4 chunks x 0.3 s
    rest = b"".join([c async for c in result.chunks])
    assert len(first) + len(rest) == 64


async def test_tts_rejects_bad_speed_and_format(openai_srv: FakeServer) -> None:
    tts = OPENAI.tts(spec_for(openai_srv, "openai"))
    with pytest.raises(ValidationError):
        await tts.synthesize("x", "tts-1", "alloy", None, {"speed": 9})
    with pytest.raises(ValidationError):
        await tts.synthesize("x", "tts-1", "alloy", "ogg-vorbis")


async def test_models_listing(openai_srv: FakeServer) -> None:
    models = await OPENAI.models(spec_for(openai_srv, "openai")).list_models()
    assert [m.id for m in models] == ["fake-chat", "fake-embed", "fake-tts", "fake-stt"]
    assert openai_srv.requests[-1].path == "/v1/models"


async def test_base_url_with_path_prefix_is_joined() -> None:
    with FakeServer(OpenAIFake("proxy", prefix="/openai/v1")) as srv:
        models = await OPENAI.models(spec_for(srv.url + "/openai/v1/", "openai")).list_models()
        assert models and srv.requests[-1].path == "/openai/v1/models"


def test_voice_options_schema_and_declared() -> None:
    schema = OPENAI.voice_options_schema()
    assert (
        schema["properties"]["speed"]["minimum"] == 0.25 and schema["properties"]["speed"]["maximum"] == 4.0
    )
    assert OPENAI.declared.roles == ["llm", "embeddings", "stt", "tts"]


async def test_concurrent_calls_share_nothing_mutable(openai_srv: FakeServer) -> None:
    emb = OPENAI.embeddings(spec_for(openai_srv, "openai"))
    results = await asyncio.gather(*(emb.embed([f"t{i}"], "e") for i in range(10)))
    assert [r[0] for r in results] == [deterministic_vector(f"t{i}", 16) for i in range(10)]
