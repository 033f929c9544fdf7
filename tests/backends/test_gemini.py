"""Gemini chat, embeddings, STT, TTS and models through google-genai against the fake (v1beta)."""

from __future__ import annotations

import base64
import io
import re
import wave

import pytest
from backend_helpers import KEY, collect, spec_for
from google.adk.models import LlmRequest
from google.genai import types

from magec.backends import registry
from magec.backends._schema import gemini_sanitize
from magec.errors import ValidationError
from magec.testing.fake_providers import FakeServer, Reply, ToolCall, fake_audio

GEMINI = registry.get("gemini")


def _camel(value: object) -> object:
    """Normalise proto-JSON keys to camelCase (google-genai sends some nested ones in snake_case)."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _req(text: str = "hola", **cfg: object) -> LlmRequest:
    return LlmRequest(
        model="gemini-test",
        contents=[types.Content(role="user", parts=[types.Part.from_text(text=text)])],
        config=types.GenerateContentConfig(**cfg),  # type: ignore[arg-type]
    )


async def test_generate_plain_and_streamed(gemini_srv: FakeServer) -> None:
    llm = GEMINI.chat(spec_for(gemini_srv, "gemini", headers={"X-Goog-Extra": "1"}), "gemini-test")
    out = await collect(llm, _req("hola", system_instruction="be kind", temperature=0.3), stream=False)
    assert len(out) == 1 and out[0].content.parts[0].text == "gemma says: hola"
    assert out[0].usage_metadata.total_token_count == 8
    rec = gemini_srv.requests[-1]
    assert rec.path == "/v1beta/models/gemini-test:generateContent"
    assert rec.headers["x-goog-api-key"] == KEY and rec.headers["x-goog-extra"] == "1"
    assert "key" not in rec.query
    assert rec.json["systemInstruction"]["parts"][0]["text"] == "be kind"
    assert rec.json["generationConfig"]["temperature"] == 0.3

    gemini_srv.script(Reply(chunks=["uno ", "dos"]))
    out = await collect(llm, _req(), stream=True)
    assert [r.content.parts[0].text for r in out if r.partial] == ["uno ", "dos"]
    assert out[-1].content.parts[0].text == "uno dos" and not out[-1].partial
    rec = gemini_srv.requests[-1]
    assert rec.path == "/v1beta/models/gemini-test:streamGenerateContent" and rec.query["alt"] == "sse"


async def test_tools_are_sanitised_and_calls_returned(gemini_srv: FakeServer) -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "$defs": {
            "Place": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "additionalProperties": False,
            }
        },
        "properties": {
            "place": {"$ref": "#/$defs/Place"},
            "unit": {"type": ["string", "null"], "enum": ["c", "f"]},
            "mode": {"const": "fast"},
        },
        "required": ["place", "ghost"],
    }
    fd = types.FunctionDeclaration(name="get_weather", description="w", parameters_json_schema=schema)
    llm = GEMINI.chat(spec_for(gemini_srv, "gemini"), "gemini-test")
    for stream in (False, True):
        gemini_srv.script(Reply(tool_calls=[ToolCall("get_weather", {"place": {"city": "Icod"}})]))
        out = await collect(
            llm, _req("weather", tools=[types.Tool(function_declarations=[fd])]), stream=stream
        )
        fcs = [p.function_call for p in out[-1].content.parts if p.function_call]
        assert [(f.name, f.args) for f in fcs] == [("get_weather", {"place": {"city": "Icod"}})]
        sent = gemini_srv.requests[-1].json
        params = sent["tools"][0]["functionDeclarations"][0]["parameters"]
        assert params == {
            "type": "OBJECT",
            "properties": {
                "place": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
                "unit": {"type": "STRING", "nullable": True, "enum": ["c", "f"]},
                "mode": {"enum": ["fast"]},
            },
            "required": ["place"],
        }
        assert "parametersJsonSchema" not in sent["tools"][0]["functionDeclarations"][0]
    assert fd.parameters_json_schema == schema  # ADK's request was not mutated


def test_sanitiser_recursion_is_capped() -> None:
    schema = {
        "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
        "$ref": "#/$defs/N",
    }
    out = gemini_sanitize(schema)
    assert out["type"] == "object" and "next" in out["properties"]


async def test_embeddings_batch(gemini_srv: FakeServer) -> None:
    vectors = await GEMINI.embeddings(spec_for(gemini_srv, "gemini")).embed(
        ["a", "b", "c"], "text-embedding-004"
    )
    assert len(vectors) == 3 and len(vectors[0]) == 12
    rec = gemini_srv.requests[-1]
    assert rec.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert [r["content"]["parts"][0]["text"] for r in rec.json["requests"]] == ["a", "b", "c"]


async def test_stt_inline_audio_with_prompt(gemini_srv: FakeServer) -> None:
    text = await GEMINI.stt(spec_for(gemini_srv, "gemini")).transcribe(
        fake_audio("hola mundo"), "audio/wav", "gemini-test"
    )
    assert text == "hola mundo"
    parts = gemini_srv.requests[-1].json["contents"][0]["parts"]
    assert parts[0] == {"text": "Transcribe this audio."}
    assert _camel(parts[1])["inlineData"]["mimeType"] == "audio/wav"
    assert base64.b64decode(parts[1]["inlineData"]["data"]) == fake_audio("hola mundo")


async def test_tts_wraps_pcm_into_wav(gemini_srv: FakeServer) -> None:
    tts = GEMINI.tts(spec_for(gemini_srv, "gemini"))
    opts = {"languageCode": "es-ES", "temperature": 0.7, "stylePrompt": "Say cheerfully"}
    result = await tts.synthesize("hola", "gemini-tts", "Kore", None, opts)
    audio = b"".join([c async for c in result.chunks])
    assert result.content_type == "audio/wav"
    with wave.open(io.BytesIO(audio)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
        assert w.readframes(w.getnframes()) == fake_audio("Say cheerfully: hola")
    body = _camel(gemini_srv.requests[-1].json)
    assert isinstance(body, dict)
    gc = body["generationConfig"]
    assert gc["responseModalities"] == ["AUDIO"] and gc["temperature"] == 0.7
    assert gc["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Kore"
    assert gc["speechConfig"]["languageCode"] == "es-ES"
    assert body["contents"][0]["parts"][0]["text"] == "Say cheerfully: hola"
    with pytest.raises(ValidationError):
        await tts.synthesize("x", "m", "Kore", "mp3")


async def test_models_listing(gemini_srv: FakeServer) -> None:
    models = await GEMINI.models(spec_for(gemini_srv, "gemini")).list_models()
    assert [m.id for m in models] == ["gemini-fake", "text-embedding-fake", "gemini-fake-tts"]
    assert gemini_srv.requests[-1].path == "/v1beta/models"


def test_voice_schema_and_declared() -> None:
    assert set(GEMINI.voice_options_schema()["properties"]) == {"languageCode", "temperature", "stylePrompt"}
    assert GEMINI.declared.roles == ["llm", "embeddings", "stt", "tts"]
