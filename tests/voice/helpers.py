"""Shared helpers for the voice tests: backends and agents through the Admin API."""

from __future__ import annotations

import io
import itertools
import wave
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake

A = "/api/v1/admin"
V = "/api/v1/voice"
OPENAI_KEY = "sk-voice-key-1234567"
GEMINI_KEY = "gem-voice-key-98765"
_names = itertools.count(1)


class PrefixedFake:
    """A fake provider mounted under a path prefix (a reverse proxy such as ``/openai``)."""

    def __init__(self, provider: OpenAIFake, prefix: str) -> None:
        self.provider = provider
        self.server = FakeServer(Starlette(routes=[Mount(prefix, app=provider.app)]))
        self.url = self.server.url + prefix


async def backend(apps: Apps, url: str, btype: str = "openai", key: str = "", **extra: Any) -> str:
    r = await apps.admin.post(
        f"{A}/backends", json={"name": f"{btype}-{next(_names)}", "type": btype, "url": url,
                               "apiKey": key, **extra}
    )
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def agent(apps: Apps, name: str = "Speaker", **fields: Any) -> str:
    r = await apps.admin.post(f"{A}/agents", json={"name": name, **fields})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def wav_info(data: bytes) -> tuple[int, int, int, float]:
    """(rate, channels, sample width, seconds) of a WAV, parsed with the stdlib ``wave`` module."""
    with wave.open(io.BytesIO(data)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes() / w.getframerate()
