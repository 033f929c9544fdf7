"""Backend probe ("test connection") against the loopback fakes and a dead URL."""

from __future__ import annotations

import time

from backend_helpers import spec_for

from magec.backends.base import BackendSpec
from magec.backends.probe import test_backend as probe
from magec.testing.fake_providers import FakeServer, Reply


async def test_openai_full_probe_fills_capabilities(openai_srv: FakeServer) -> None:
    report = await probe(
        spec_for(openai_srv, "openai"),
        full=True,
        model="fake-chat",
        embedding_model="fake-embed",
        tts_model="fake-tts",
        tts_voice="alloy",
        stt_model="fake-stt",
    )
    data = report.to_json()
    assert data["ok"] is True, data
    assert data["error"] is None
    assert set(data["roles"]) == {"models", "llm", "tools", "embeddings", "tts", "stt"}
    assert all(r["ok"] is True and r["latencyMs"] is not None for r in data["roles"].values())
    assert data["roles"]["stt"]["detail"] == "heard 'hello'"  # TTS audio went back through STT
    caps = data["capabilities"]
    assert caps["roles"] == ["llm", "embeddings", "stt", "tts"]
    assert caps["embeddingDimension"] == 16 and caps["tools"] and caps["streamingTools"]
    assert data["models"] == caps["models"] == ["fake-chat", "fake-embed", "fake-tts", "fake-stt"]
    routes = [r.route for r in openai_srv.requests]
    assert routes.count("chat") == 5  # 1-token chat + (call, answer) x (plain, streamed)
    first_chat = openai_srv.provider.requests_to("chat")[0].json
    assert first_chat["max_tokens"] == 1
    assert openai_srv.provider.requests_to("chat")[1].json["tool_choice"] == "required"


async def test_cheap_probe_only_lists_models(openai_srv: FakeServer) -> None:
    report = await probe(spec_for(openai_srv, "openai"))
    assert report.ok and [r.route for r in openai_srv.requests] == ["models"]
    assert report.roles["llm"].ok is None


async def test_anthropic_probe_llm_only(anthropic_srv: FakeServer) -> None:
    report = await probe(
        spec_for(anthropic_srv, "anthropic"), full=True, model="claude-fake", embedding_model="e"
    )
    data = report.to_json()
    assert data["ok"] is True, data
    assert data["roles"]["llm"]["ok"] and data["roles"]["tools"]["ok"]
    assert (
        data["roles"]["embeddings"]["ok"] is None and "not supported" in data["roles"]["embeddings"]["detail"]
    )
    assert data["capabilities"]["roles"] == ["llm"]


async def test_gemini_probe(gemini_srv: FakeServer) -> None:
    report = await probe(
        spec_for(gemini_srv, "gemini"),
        full=True,
        model="gemini-fake",
        embedding_model="text-embedding-fake",
        tts_model="gemini-fake-tts",
        stt_model="gemini-fake",
    )
    data = report.to_json()
    assert data["ok"] is True, data
    assert data["capabilities"]["embeddingDimension"] == 12
    assert data["roles"]["tts"]["detail"].endswith("audio/wav")
    assert data["roles"]["stt"]["detail"] == "heard 'hello'"


async def test_failing_role_is_reported_and_removed(openai_srv: FakeServer) -> None:
    openai_srv.script(Reply.fail(404, "no such model"), route="embeddings")
    report = await probe(spec_for(openai_srv, "openai"), full=True, model="fake-chat", embedding_model="nope")
    assert report.ok is False
    assert report.roles["embeddings"].ok is False and "no such model" in report.roles["embeddings"].detail
    assert "embeddings" not in report.capabilities.roles
    assert report.error and report.error.startswith("embeddings:")


async def test_dead_url_fails_within_timeout(closed_port_url: str) -> None:
    for kind in ("openai", "anthropic", "gemini"):
        start = time.monotonic()
        report = await probe(spec_for(closed_port_url, kind), full=True, model="m", timeout=2)
        assert time.monotonic() - start < 5
        assert report.ok is False and report.roles["models"].ok is False and report.error


async def test_black_hole_times_out(openai_srv: FakeServer) -> None:
    openai_srv.script(Reply(delay=5), route="models")
    start = time.monotonic()
    report = await probe(spec_for(openai_srv, "openai"), timeout=0.5)
    assert time.monotonic() - start < 2
    assert not report.ok and "timed out" in (report.error or "")


async def test_unknown_type() -> None:
    report = await probe(BackendSpec(id="x", name="x", type="nope"))
    assert not report.ok and "unknown backend type" in (report.error or "")
