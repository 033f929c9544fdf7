"""Voice bench: CPU per listening connection on ``WS /api/v1/voice/events`` and how many one core holds.

A real ``magec serve`` is pinned to one CPU; N clients (in this process, on the other CPU when
there is one) each stream 48 kHz float32 audio in real time, 4096-sample frames as browsers send
them — a loop of espeak-ng speech with the wake phrase ("hey mycroft. what time is it?") and
silence, so resampling, VAD and the wake word model all work. For each N the server's CPU time
(``/proc/<pid>/stat``), less its idle CPU measured first, divided by the audio seconds it processed
gives **CPU per connection**: the share of one core a connection streaming in real time costs
(normalised by audio, not wall time, because the load generator shares this small machine and may
fall behind real time). **Held on one core** = 100 % / CPU per connection; a round *kept up* when
every connection heard all its wake words, nothing failed and N × CPU per connection < 100 %.
``max_lag_s`` (the answer to a ``setModel`` sent after the last frame) and ``wall_s`` show how far
behind the whole pipeline — load generator included — ran.

``run()`` returns a dict (see :func:`markdown`); ``python -m bench --only voice`` or
``python bench/voice_bench.py``. Target: ≥ 20 connections per core.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_PER_CORE = 20
RATE = 48000
FRAME = 4096


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pin(pid: int, cpu: int) -> None:
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), {cpu})
        except OSError:
            pass


def _audio(seconds: float) -> tuple[Any, int]:
    """The stream one client sends, and how many wake phrases it contains."""
    import numpy as np

    from magec.testing.speech import padded, resample_linear, say

    speech, rate = say("hey mycroft. what time is it?")
    chunk = resample_linear(padded(speech, rate, 1.0, 2.5), rate, RATE)
    reps = max(1, int(seconds * RATE // len(chunk)))
    return np.tile(chunk, reps).astype("<f4"), reps


async def _client(url: str, frames: list[bytes], start: float) -> dict[str, Any]:
    try:
        return await _stream(url, frames, start)
    except Exception as e:  # noqa: BLE001 - one failed connection is a result, not a crash
        return {"lag_s": None, "wakewords": 0, "error": f"{type(e).__name__}: {e}"}


async def _stream(url: str, frames: list[bytes], start: float) -> dict[str, Any]:
    import websockets

    wakewords = 0
    # no keepalive pings: on a loaded machine a late pong is not what this measures
    async with websockets.connect(url, max_queue=None, ping_interval=None, close_timeout=30) as ws:
        json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "config", "data": {"sampleRate": RATE}}))
        for i, frame in enumerate(frames):
            await ws.send(frame)
            await asyncio.sleep(max(0.0, start + (i + 1) * FRAME / RATE - time.monotonic()))
        sent_at = time.monotonic()
        await ws.send(json.dumps({"type": "setModel", "data": {"model": "hey_mycroft"}}))
        async for raw in ws:
            msg = json.loads(raw)
            if msg["type"] == "wakeword":
                wakewords += 1
            elif msg["type"] in ("capabilities", "error"):
                return {"lag_s": time.monotonic() - sent_at, "wakewords": wakewords, "error": msg.get("data")
                        if msg["type"] == "error" else None}
    return {"lag_s": None, "wakewords": wakewords, "error": "closed"}


def _idle_pct(pid: int, seconds: float = 3.0) -> float:
    """The server's own CPU with no connection (health checks, timers): subtracted per round."""
    cpu0, t0 = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (_cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100


async def _round(url: str, pid: int, n: int, seconds: float, idle_pct: float) -> dict[str, Any]:
    audio, phrases = _audio(seconds)
    frames = [audio[i : i + FRAME].tobytes() for i in range(0, len(audio), FRAME)]
    audio_s = len(audio) / RATE
    start = time.monotonic() + 0.5
    cpu0 = _cpu_seconds(pid)
    results = await asyncio.gather(*[_client(url, frames, start) for _ in range(n)])
    wall = time.monotonic() - start
    cpu = _cpu_seconds(pid) - cpu0
    lags = [r["lag_s"] for r in results if r["lag_s"] is not None]
    errors = [r["error"] for r in results if r["error"]]
    # normalised by the audio processed, not the wall time: a load generator that falls behind real
    # time (it shares this small machine) must not make the server look cheaper than it is
    per_conn = max(0.0, cpu - idle_pct / 100 * wall) / (n * audio_s) * 100
    return {
        "connections": n,
        "audio_s": round(audio_s, 1),
        "wall_s": round(wall, 1),
        "server_core_pct": round(cpu / wall * 100, 1),
        "cpu_per_connection_pct": round(per_conn, 2),
        "realtime_core_pct": round(per_conn * n, 1),
        "max_lag_s": round(max(lags), 3) if lags else None,
        "wakewords_heard": sum(r["wakewords"] for r in results),
        "wakewords_sent": phrases * n,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "kept_up": not errors and len(lags) == n and per_conn * n < 100
        and all(r["wakewords"] == phrases for r in results),
    }


def run(counts: tuple[int, ...] = (1, 10, 20, 40), seconds: float = 12.0, idle_seconds: float = 3.0) -> dict[str, Any]:
    from magec.testing.server import ServerProcess

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1]
    with tempfile.TemporaryDirectory(prefix="voice-bench-") as tmp:
        srv = ServerProcess(data_dir=Path(tmp), env={"MAGEC_VOICE_MAX_CONNECTIONS": str(max(counts) + 1)},
                            log_level="warn").start()
        try:
            assert srv.proc is not None
            _pin(srv.proc.pid, server_cpu)
            if len(cpus) > 1:
                os.sched_setaffinity(0, set(cpus[:-1]))
            url = srv.user_url.replace("http://", "ws://") + "/api/v1/voice/events"
            idle = _idle_pct(srv.proc.pid, idle_seconds)
            rows = [asyncio.run(_round(url, srv.proc.pid, n, seconds, idle)) for n in counts]
        finally:
            srv.stop()
            os.sched_setaffinity(0, set(cpus))
    busiest = max(rows, key=lambda r: r["connections"])
    per_conn = busiest["cpu_per_connection_pct"]
    held = [r["connections"] for r in rows if r["kept_up"]]
    return {
        "rows": rows,
        "cpu_per_connection_pct": per_conn,
        "estimated_per_core": int(100 // per_conn) if per_conn > 0 else None,
        "machine_loadavg": round(os.getloadavg()[0], 2),
        "largest_kept_up": max(held) if held else 0,
        "target_per_core": TARGET_PER_CORE,
        "server_cpu": server_cpu,
        "idle_core_pct": round(idle, 2),
    }


def markdown(r: dict[str, Any]) -> list[str]:
    """The report's "Voice channel" section."""
    out = [
        f"`magec serve` pinned to CPU {r['server_cpu']}; each connection streams 48 kHz float32 audio "
        "(speech with the wake phrase, and silence) in 4096-sample frames, as the Voice UI does. "
        f"*CPU per connection* = (server CPU − its idle {r['idle_core_pct']} %) / audio seconds processed: "
        "the share of one core a real-time listening device costs. *Real-time core %* = that × N.",
        "",
        "| connections | audio s | wall s | CPU per connection | real-time core % | max lag s | wake words heard | kept up |",
        "|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for row in r["rows"]:
        out.append(f"| {row['connections']} | {row['audio_s']} | {row['wall_s']} | {row['cpu_per_connection_pct']} % | "
                   f"{row['realtime_core_pct']} | {row['max_lag_s']} | {row['wakewords_heard']}/{row['wakewords_sent']} | "
                   f"{'yes' if row['kept_up'] else 'NO'} |")
    out += ["", f"One core holds about **{r['estimated_per_core']}** listening connections "
            f"(target ≥ {r['target_per_core']}; largest N measured that kept up: {r['largest_kept_up']})."]
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
