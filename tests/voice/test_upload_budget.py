"""The request bodies a process holds at once are bounded (``limits.bodyBytesInFlight``).

Each body is within its route's limit (``limits.uploadBytes`` for voice), but a client could send
many at once: eight concurrent 24 MB voice uploads took a worker from 274 MB to 716 MB. Past the
budget a new upload is refused at once with 503 ``overloaded`` and ``Retry-After``, before its body
is read, and taken again once the others are answered.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from tests.voice.helpers import V, agent, backend

MB = 1024 * 1024


def silence(size: int) -> bytes:
    """A WAV of silence of about ``size`` bytes."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0" * size)
    return out.getvalue()


async def test_voice_uploads_held_at_once_are_bounded(tmp_path: Path) -> None:
    with FakeServer(OpenAIFake("ears")) as stt:
        config = {"upload_limit_bytes": MB, "body_bytes_in_flight": 2 * MB}
        async with running_apps(tmp_path / "d", config=config) as apps:
            aid = await agent(apps, transcription={"backend": await backend(apps, stt.url)})
            audio = silence(900 * 1024)  # two fit in the budget, three do not
            headers = {"Content-Type": "audio/wav"}
            url = f"{V}/{aid}/transcription"
            stt.script(Reply(text="one", delay=2), Reply(text="two", delay=2), route="stt")
            held = [asyncio.create_task(apps.user.post(url, content=audio, headers=headers)) for _ in range(2)]
            deadline = time.monotonic() + 20
            while len(stt.requests_to("stt")) < 2:  # both bodies read, both being transcribed
                assert time.monotonic() < deadline, "the two uploads did not reach the provider"
                await asyncio.sleep(0.02)
            third = await apps.user.post(url, content=audio, headers=headers)
            assert third.status_code == 503, third.text
            assert third.json()["code"] == "overloaded" and "bodyBytesInFlight" in third.json()["error"]
            assert int(third.headers["Retry-After"]) >= 1


            async def chunked() -> AsyncIterator[bytes]:  # no declared length: refused as it is read
                for i in range(0, len(audio), 64 * 1024):
                    yield audio[i:i + 64 * 1024]

            fourth = await apps.user.post(url, content=chunked(), headers=headers)
            assert fourth.status_code == 503 and fourth.json()["code"] == "overloaded", fourth.text
            assert len(stt.requests_to("stt")) == 2  # neither reached the provider
            assert sorted(r.json()["text"] for r in await asyncio.gather(*held)) == ["one", "two"]
            # answered: their bytes are given back
            again = await apps.user.post(url, content=audio, headers=headers)
            assert again.status_code == 200, again.text
