"""A flood of tiny audio frames on ``WS /api/v1/voice/events`` is refused like a text flood.

The audio budget counts *seconds* of audio (1.5 × real time after a 10 s burst), so a frame of one
sample (4 bytes) cost 1/16000 s of it: a connection could send 24,000 frames a second within its
budget, and each frame is a pass of Python work on the event loop (about 60 µs: one core could
take about 16,000 a second). One device thus held the whole loop — every other request of the
process stalled — where the budget meant "the cost of one live microphone" (a browser sends
4096-sample frames: about 12 a second). Frames are now counted too: a burst, then a steady rate
far above any microphone's.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
import websockets

from magec.server import user_app
from magec.testing.apps import running_apps, serving


async def test_a_flood_of_one_sample_frames_is_refused(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d") as apps, serving(user_app(apps.ctx)) as url:
        ws_url = url.replace("http://", "ws://") + "/api/v1/voice/events"
        async with websockets.connect(ws_url) as ws:
            assert json.loads(await ws.recv())["type"] == "capabilities"
            one_sample = np.zeros(1, np.float32).tobytes()
            errors: list[dict[str, object]] = []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                for _ in range(5000):  # 0.3 s of audio: far inside the audio budget
                    await ws.send(one_sample)
                while True:  # what the server answers, until it closes (or the deadline says it never does)
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if msg["type"] == "error":
                        errors.append(msg["data"])
            assert [e["code"] for e in errors] == ["too_many_frames"], errors
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_a_microphone_at_real_time_is_never_refused(tmp_path: Path) -> None:
    """The frames of a live microphone (4096 samples at 48 kHz, a burst of 10 s buffered on a
    reconnect, then at real time) stay far inside both budgets."""
    async with running_apps(tmp_path / "d") as apps, serving(user_app(apps.ctx)) as url:
        ws_url = url.replace("http://", "ws://") + "/api/v1/voice/events"
        async with websockets.connect(ws_url) as ws:
            assert json.loads(await ws.recv())["type"] == "capabilities"
            await ws.send(json.dumps({"type": "config", "data": {"sampleRate": 48000}}))
            frame = np.zeros(4096, np.float32).tobytes()
            for _ in range(110):  # 9.4 s of audio at once: the burst a reconnecting device flushes
                await ws.send(frame)
            await ws.send(json.dumps({"type": "setModel", "data": {"model": "not-a-model"}}))
            # the answer to the last message arrives: nothing before it was refused
            msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert msg["type"] == "error" and msg["data"]["code"] == "unknown_model", msg
