"""A client's speech, transcription and embedding calls are admitted like its turns.

``limits.maxRunsPerClient`` bounds how much provider work one client has running at once, and the
providers' HTTP pools are sized from the same limits (docs/limits.md). Turns were admitted on every
surface, but the voice routes (``/api/v1/voice/…``, ``/v1/audio/*``) and ``/v1/embeddings`` called
the provider unadmitted: one client token could hold any number of speech streams at once, past its
own limit and past the backend's connection pool, where every other client's turns then waited.
Here the user app runs on a real socket, so one client's speech stream stays open while the same
client (and another one) call again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from magec.server import user_app
from magec.testing.apps import running_apps, serving
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from tests.costs.helpers import A, agent, auth, backend, client

ROUTES = ("stt", "tts", "embeddings")


@pytest.fixture
def oai() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("voice")) as s:
        yield s


def provider_calls(oai: FakeServer) -> int:
    return sum(len(oai.requests_to(route)) for route in ROUTES)  # type: ignore[arg-type]


async def test_one_client_cannot_hold_more_provider_calls_than_its_limit(tmp_path: Path, oai: FakeServer) -> None:
    async with running_apps(tmp_path / "d", config={"max_runs_per_client": 1}) as apps, \
            serving(user_app(apps.ctx)) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        b = await backend(apps, oai)
        aid = await agent(apps, b, "Speaker", transcription={"backend": b, "model": "whisper-1"},
                          tts={"backend": b, "model": "tts-1", "voice": "alloy"})
        mem = await apps.admin.post(f"{A}/memory", json={"name": "LT", "type": "sqlite", "category": "longterm",
                                                          "embedding": {"backend": b, "model": "emb-1"}})
        assert (await apps.admin.put(f"{A}/settings", json={"longTermProvider": mem.json()["id"]})).status_code == 200
        phone, other = (await client(apps, "Phone", [aid])), (await client(apps, "Other", [aid]))
        mine, theirs = auth(phone["token"]), auth(other["token"])
        wav = (await http.post("/v1/audio/speech", headers=mine,
                               json={"model": aid, "input": "hola", "response_format": "wav"})).content

        def calls(headers: dict[str, str]) -> list[tuple[str, str, dict[str, object]]]:
            return [
                ("/v1/audio/speech", "POST", {"json": {"model": aid, "input": "again", "response_format": "wav"}}),
                (f"/api/v1/voice/{aid}/speech", "POST", {"json": {"input": "again"}}),
                ("/v1/audio/transcriptions", "POST",
                 {"files": {"file": ("a.wav", wav, "audio/wav")}, "data": {"model": aid}}),
                (f"/api/v1/voice/{aid}/transcription", "POST",
                 {"content": wav, "headers": {**headers, "Content-Type": "audio/wav"}}),
                ("/v1/embeddings", "POST", {"json": {"model": aid, "input": "hello"}}),
            ]

        # a speech stream the provider sends slowly: the client holds it open, reading
        oai.script(Reply(audio=bytes(16 * 200), chunk_delay=0.2), route="tts")
        async with http.stream("POST", f"/api/v1/voice/{aid}/speech", headers=mine, json={"input": "long"}) as held:
            assert held.status_code == 200
            audio = held.aiter_raw()  # kept: a dropped iterator closes the stream
            await audio.__anext__()  # audio is flowing: the call is running
            before = provider_calls(oai)
            for path, method, kw in calls(mine):
                kw = {"headers": mine, **kw}
                r = await http.request(method, path, **kw)  # type: ignore[arg-type]
                assert r.status_code == 429, (path, r.status_code, r.text[:200])
                assert r.headers["retry-after"] == "1", path
                assert "maxRunsPerClient" in r.text, (path, r.text)
            assert provider_calls(oai) == before, "a refused call never reaches the provider"
            # another client is not limited by this one's calls
            for path, method, kw in calls(theirs):
                kw = {"headers": theirs, **kw}
                r = await http.request(method, path, **kw)  # type: ignore[arg-type]
                assert r.status_code == 200, (path, r.status_code, r.text[:200])
        # the client hung up: its slot comes back once the server has seen it go
        deadline = time.monotonic() + 15
        while True:
            r = await http.post("/v1/embeddings", headers=mine, json={"model": aid, "input": "hello"})
            if r.status_code != 429 or time.monotonic() > deadline:
                break
        assert r.status_code == 200, r.text
        for path, method, kw in calls(mine):  # each call ended and gave its slot back
            kw = {"headers": mine, **kw}
            r = await http.request(method, path, **kw)  # type: ignore[arg-type]
            assert r.status_code == 200, (path, r.status_code, r.text[:200])
