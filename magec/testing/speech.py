"""Spoken test audio and a voice-events client, for the realtime voice tests, UI tests and bench.

* :func:`say` speaks text with Debian ``espeak-ng`` (offline) and returns float32 samples at its
  native 22,050 Hz; :func:`padded` surrounds them with silence; :func:`write_wav` writes 16-bit
  mono WAV (what Chromium's fake microphone plays).
* :func:`stream_events` sends audio to ``WS /api/v1/voice/events`` the way a browser does (a
  ``config`` message with the rate, then float32 frames of 4096 samples) and collects every server
  message up to the answer to a final ``setModel`` (a barrier: no sleeping for late events).
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

FRAME = 4096  # samples per message, as the browser's capture worklet sends them


def say(text: str, voice: str = "en-us", speed: int = 150) -> tuple[np.ndarray, int]:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = subprocess.run([exe, "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True,
                         check=True, timeout=60).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return (pcm.astype(np.float32) / 32768.0), rate


def padded(samples: np.ndarray, rate: int, before: float = 1.0, after: float = 1.0) -> np.ndarray:
    return np.concatenate([np.zeros(int(before * rate), np.float32), samples, np.zeros(int(after * rate), np.float32)])


def resample_linear(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    n = int(len(samples) * target / rate)
    return np.interp(np.arange(n) * rate / target, np.arange(len(samples)), samples).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def speech_bounds(samples: np.ndarray, rate: int, floor: float = 0.01) -> tuple[float, float]:
    """(first, last) second where the signal is louder than ``floor``: the true speech span."""
    loud = np.nonzero(np.abs(samples) > floor)[0]
    return float(loud[0] / rate), float(loud[-1] / rate)


async def stream_events(
    url: str,
    samples: np.ndarray,
    rate: int,
    *,
    model: str | None = None,
    realtime: bool = False,
    **connect: Any,
) -> list[dict[str, Any]]:
    """Every message the server sent for this audio (``capabilities`` first).

    No sleeping for late events: after the audio a ``setModel`` for the active model is sent, and
    the server answers it with ``capabilities`` only after every frame before it was processed."""
    import websockets

    received: list[dict[str, Any]] = []
    # A busy two-core CI machine (two test workers plus their servers) can take the server more
    # than websockets' default 10 s to answer one of the hundred handshakes a test makes; a
    # client on such a machine waits longer rather than failing the whole sweep.
    connect.setdefault("open_timeout", 30)
    async with websockets.connect(url, **connect) as ws:
        first = json.loads(await ws.recv())
        received.append(first)
        if first.get("type") != "capabilities":
            return received
        active = model or first["data"]["wakewords"]["active"]
        await ws.send(json.dumps({"type": "config", "data": {"sampleRate": rate, "model": model}}))
        start = time.monotonic()
        for i in range(0, len(samples), FRAME):
            await ws.send(samples[i : i + FRAME].astype("<f4").tobytes())
            if realtime:
                await asyncio.sleep(max(0.0, start + (i + FRAME) / rate - time.monotonic()))
        await ws.send(json.dumps({"type": "setModel", "data": {"model": active}}))
        async for raw in ws:
            msg = json.loads(raw)
            received.append(msg)
            if msg["type"] in ("capabilities", "error"):
                break
    return received
