"""What another caller sees of an event-loop stall: health checks polled while a hostile request runs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx


async def slowest_health_wait(user: httpx.AsyncClient, running: asyncio.Task[Any]) -> float:
    """The longest a caller polling ``/api/v1/health`` every 20 ms waited (seconds) until ``running``
    ended; every check must answer 200. A loop held by ``running`` shows here as a long wait."""
    slowest = 0.0
    while not running.done():
        started = time.monotonic()
        await asyncio.sleep(0.02)
        assert (await user.get("/api/v1/health")).status_code == 200
        slowest = max(slowest, time.monotonic() - started)
    return slowest
