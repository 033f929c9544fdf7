"""Speech is streamed: through a real ``magec serve`` subprocess, a slow fake TTS that sends its
chunks over ~2.5 s — the client holds the first bytes long before the upstream finishes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess

A = "/api/v1/admin"

CHUNKS = 10
CHUNK_DELAY = 0.25  # the fake sends 16-byte chunks with this pause after each: ~2.5 s in all


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data: Path = tmp_path_factory.mktemp("voice-serve")
    with ServerProcess(data_dir=data) as proc:
        yield proc


@pytest.fixture(scope="module")
def slow_tts() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("slow-tts")) as s:
        yield s


async def test_first_bytes_arrive_before_upstream_finishes(server: ServerProcess, slow_tts: FakeServer) -> None:
    audio = bytes(range(16)) * CHUNKS
    async with httpx.AsyncClient(timeout=30) as client:
        b = (await client.post(f"{server.admin_url}{A}/backends",
                               json={"name": "slow", "type": "openai", "url": slow_tts.url})).json()
        a = (await client.post(f"{server.admin_url}{A}/agents", json={
            "name": "Talker", "tts": {"backend": b["id"], "model": "tts-1", "voice": "alloy"}})).json()
        url = f"{server.user_url}/api/v1/voice/{a['id']}/speech"
        probe = await client.post(url, json={"input": "warm up"})  # live at once: the write answered
        assert probe.status_code == 200, probe.text
        slow_tts.script(Reply(audio=audio, chunk_delay=CHUNK_DELAY), route="tts")
        arrivals: list[tuple[float, int]] = []
        start = time.monotonic()
        async with client.stream("POST", url, json={"input": "slowly please", "response_format": "wav"}) as r:
            assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
            received = b""
            async for piece in r.aiter_raw():
                received += piece
                arrivals.append((time.monotonic() - start, len(received)))
        total = time.monotonic() - start
    assert received == audio
    first_at = arrivals[0][0]
    assert total >= (CHUNKS - 1) * CHUNK_DELAY * 0.9  # the upstream really took ~2 s
    assert first_at < 1.0 and first_at < total - 1.5, arrivals
    assert len(arrivals) >= 3  # audio arrived in several pieces, not as one buffered body


async def test_upstream_break_mid_stream_is_not_a_clean_end(server: ServerProcess, slow_tts: FakeServer) -> None:
    """Once audio has started the status is sent; an upstream break must not look like a complete
    body (the connection is dropped instead of ending the chunked body cleanly)."""
    async with httpx.AsyncClient(timeout=30) as client:
        b = (await client.post(f"{server.admin_url}{A}/backends",
                               json={"name": "cutter", "type": "openai", "url": slow_tts.url})).json()
        a = (await client.post(f"{server.admin_url}{A}/agents", json={
            "name": "Cut", "tts": {"backend": b["id"]}})).json()
        url = f"{server.user_url}/api/v1/voice/{a['id']}/speech"
        probe = await client.post(url, json={"input": "warm up"})
        assert probe.status_code == 200, probe.text
        slow_tts.script(Reply(audio=bytes(160), chunk_delay=0.05, cut_after=3), route="tts")
        received = b""
        with pytest.raises(httpx.RemoteProtocolError):
            async with client.stream("POST", url, json={"input": "cut me"}) as r:
                assert r.status_code == 200
                async for piece in r.aiter_raw():
                    received += piece
        assert 0 < len(received) < 160
