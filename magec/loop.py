"""The event loop a serving process runs on.

Contract: :func:`run` runs a coroutine to completion on a new loop, as :func:`asyncio.run` does,
and closes it. The loop is uvloop's (installed with ``uvicorn[standard]``) unless
``MAGEC_EVENT_LOOP=asyncio`` asks for the standard library's (for debugging, or a platform
without uvloop). Why uvloop: a relayed token or a request is mostly socket reads and writes and
loop wake-ups, which uvloop does in C; on the bench machine it cut the server's CPU per paced
token and per request (docs/benchmarks.md, profile notes). Code must not depend on which loop it
runs on: the tests run in-process on asyncio's loop, the served process on uvloop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_name() -> str:
    """``"uvloop"`` or ``"asyncio"``: the loop :func:`run` will use."""
    wanted = os.environ.get("MAGEC_EVENT_LOOP", "auto").strip().lower() or "auto"
    if wanted == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if wanted == "uvloop":
            raise RuntimeError("MAGEC_EVENT_LOOP=uvloop but uvloop is not installed") from None
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    if loop_name() == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)
