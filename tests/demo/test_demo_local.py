"""The offline quick start: --demo resources answer with real local models (SmolLM2) via /run and /v1."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from magec.config import Config
from magec.demo import ensure_demo, local_available
from magec.testing.apps import running_apps

pytestmark = pytest.mark.local


@pytest.mark.skipif(not local_available()[0], reason=f"local extra not installed: {local_available()[1]}")
async def test_demo_agent_answers_offline(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ids = await ensure_demo(Config(data_dir=data, encryption_key="test-encryption-key"), Console(quiet=True))
    async with running_apps(data) as apps:
        view = (await apps.admin.get(f"/api/v1/admin/agents/{ids['agent']}")).json()
        assert view["valid"] is True, view
        r = await apps.user.post("/api/v1/agent/run", json={
            "appName": ids["agent"], "userId": "u", "sessionId": "s",
            "newMessage": {"parts": [{"text": "What is the capital of France? Answer in one word."}]}})
        assert r.status_code == 200, r.text
        texts = [p["text"] for e in r.json() if not e.get("partial") and not e.get("errorCode")
                 for p in (e.get("content") or {}).get("parts", []) if p.get("text")]
        assert texts and texts[-1].strip(), r.json()
        r = await apps.user.post("/v1/chat/completions", json={
            "model": "Local assistant", "messages": [{"role": "user", "content": "Say hello."}]})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"].strip()


@pytest.mark.skipif(not local_available()[0], reason=f"local extra not installed: {local_available()[1]}")
async def test_demo_memory_uses_real_minilm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ids = await ensure_demo(Config(data_dir=data, encryption_key="test-encryption-key"), Console(quiet=True))
    async with running_apps(data) as apps:
        svc = apps.ctx.runtime.memory  # type: ignore[union-attr]
        store = svc.store(ids["memory"])
        assert store is not None and store.embedder.key.endswith("/all-minilm-l6-v2")
        for text in ("My cat sleeps on the sofa all day.", "The invoice for March is overdue.",
                     "We are flying to Tenerife in June."):
            await store.save(ids["agent"], "ada", text)
        hits = await store.search(ids["agent"], "ada", "feline pet", limit=1)
        assert hits[0].content == "My cat sleeps on the sofa all day."
        items = (await apps.admin.get("/api/v1/admin/memory/entries")).json()["items"]
        assert {i["embeddingModel"] for i in items} == {store.embedder.key}
        vectors = await store.embedder.embed(["cat", "feline", "invoice"])
        assert len(vectors[0]) == 384

        def cos(a: list[float], b: list[float]) -> float:
            return sum(x * y for x, y in zip(a, b, strict=True))

        assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])


@pytest.mark.skipif(not local_available()[0], reason=f"local extra not installed: {local_available()[1]}")
async def test_demo_voice_routes_offline(tmp_path: Path) -> None:
    import io
    import shutil
    import subprocess
    import wave

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (the README test command installs it)")
    data = tmp_path / "data"
    ids = await ensure_demo(Config(data_dir=data, encryption_key="test-encryption-key"), Console(quiet=True))
    spoken = tmp_path / "spoken.wav"
    subprocess.run(["espeak-ng", "-w", str(spoken), "Please water the garden tomorrow morning."], check=True)
    async with running_apps(data) as apps:
        r = await apps.user.post(f"/api/v1/voice/{ids['agent']}/transcription",
                                 files={"file": ("spoken.wav", spoken.read_bytes(), "audio/wav")})
        assert r.status_code == 200, r.text
        text = r.json()["text"].lower()
        assert "garden" in text and "tomorrow" in text, text
        r = await apps.user.post(f"/api/v1/voice/{ids['agent']}/speech", json={"input": "The weather is sunny today."})
        assert r.status_code == 200 and r.headers["content-type"].startswith("audio/wav")
        with wave.open(io.BytesIO(r.content)) as w:
            assert w.getnchannels() == 1 and w.getnframes() > 0
        r = await apps.user.post(f"/api/v1/voice/{ids['agent']}/transcription",
                                 files={"file": ("tts.wav", r.content, "audio/wav")})
        back = r.json()["text"].lower()
        assert "weather" in back and "sunny" in back, back


def test_demo_with_json_logs_writes_only_json_lines(tmp_path: Path) -> None:
    """``log.format: json`` (journey 7) with ``--demo`` (journey 1): a log collector parses every
    line, the demo's "ready" included."""
    import json

    from magec.testing.server import ServerProcess

    with ServerProcess(tmp_path / "data", extra_args=["--demo"]) as server:  # its config asks for JSON logs
        assert server.log_path is not None
        lines = [x for x in server.log_path.read_text().splitlines() if x.strip()]
    records = [json.loads(x) for x in lines]  # every line is one JSON object
    assert any(r["msg"].startswith("demo ready: backend 'Local'") for r in records), lines
