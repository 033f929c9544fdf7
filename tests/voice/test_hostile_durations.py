"""An upload's claimed audio duration cannot poison usage.

The duration of transcribed audio is read from the file's own header (what is billed per second of
audio). A client controls those bytes: a WebM whose Duration element is NaN or infinity, or an
MP4 claiming a 4-billion-second movie in 1 KB, must be recorded as a finite, believable number of
seconds (NaN cannot even be stored: it is no JSON and SQLite stores it as NULL). Read back through
the Admin API's usage.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake

A = "/api/v1/admin"


def webm(duration: float) -> bytes:
    """An EBML header plus a Duration element holding ``duration`` as a big-endian double."""
    return b"\x1a\x45\xdf\xa3" + b"\x00" * 28 + b"\x44\x89\x88" + struct.pack(">d", duration) + b"\x00" * 64


def mp4(duration: int, timescale: int = 1) -> bytes:
    """An ``ftyp`` box and a version-0 ``mvhd`` box claiming ``duration`` / ``timescale`` seconds."""
    mvhd = b"mvhd" + b"\x00" * 4 + b"\x00" * 8 + struct.pack(">II", timescale, duration) + b"\x00" * 80
    return b"\x00\x00\x00\x14ftypisom" + b"\x00" * 8 + struct.pack(">I", len(mvhd) + 4) + mvhd


HOSTILE = [webm(float("nan")), webm(float("inf")), webm(-1e308), webm(1e308), mp4(0xFFFFFFFF)]


@pytest.fixture
def oai() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("stt")) as s:
        yield s


async def test_hostile_durations_are_not_recorded(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    b = await apps.admin.post(f"{A}/backends", json={"name": "stt", "type": "openai", "url": oai.url})
    assert b.status_code == 201, b.text
    a = await apps.admin.post(f"{A}/agents", json={"name": "ears", "llm": {"backend": b.json()["id"], "model": "m"},
                                                   "transcription": {"backend": b.json()["id"], "model": "whisper-1"}})
    assert a.status_code == 201, a.text
    aid = a.json()["id"]
    for audio in HOSTILE:
        r = await apps.user.post(f"/api/v1/voice/{aid}/transcription", content=audio,
                                 headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.text
    r = await apps.admin.get(f"{A}/usage", params={"agent": aid})
    assert r.status_code == 200, r.text
    rows = [row for row in r.json() if row["kind"] == "stt"]
    assert rows and sum(row["calls"] for row in rows) == len(HOSTILE), r.json()
    seconds = sum(row["audioSeconds"] for row in rows)
    # no upload here holds more than a second of real audio at any believable bit rate
    assert math.isfinite(seconds) and 0 <= seconds <= len(HOSTILE), r.json()
