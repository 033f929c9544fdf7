"""The event loop a serving process runs on.

Contract: :func:`run` runs a coroutine to completion on a new loop, as :func:`asyncio.run` does,
and closes it. The loop is uvloop's (installed with ``uvicorn[standard]``) unless
``MAGEC_EVENT_LOOP=asyncio`` asks for the standard library's (for debugging, or a platform
without uvloop). Why uvloop: a relayed token or a request is mostly socket reads and writes and
loop wake-ups, which uvloop does in C; on the bench machine it cut the server's CPU per paced
token and per request (docs/benchmarks.md, profile notes). Code must not depend on which loop it
runs on: the tests run in-process on asyncio's loop, the served process on uvloop.

:func:`off_loop` runs long CPU work (a long history's mapping, its request body, a large JSON
body's parsing) in a worker thread, and while any such work runs the interpreter switches
threads every :data:`SWITCH_INTERVAL` s instead of CPython's 5 ms. Why: under the GIL the loop
waits up to the switch interval for the lock after every ``select`` and socket call while the
worker computes (CPython's "convoy effect"): a 16k-message ``/v1`` request's longest loop stall
was 12–27 ms at 5 ms, 6–13 ms at 1 ms (issue "Scale", goal 2). Only for that work: with every
request's few threads contending, a process-wide 1 ms cost up to ~5% more CPU per request at c=64
on the bench host.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: seconds a thread may hold the GIL while another waits, during :func:`off_loop` work
SWITCH_INTERVAL = 0.001

_switching = threading.Lock()
_busy = 0
_previous = 0.005


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread (:func:`asyncio.to_thread`), prompt thread switching on
    while it runs."""
    global _busy, _previous
    with _switching:
        if _busy == 0:
            _previous = sys.getswitchinterval()
            sys.setswitchinterval(min(_previous, SWITCH_INTERVAL))
        _busy += 1
    try:
        return await asyncio.to_thread(fn, *args)
    finally:
        with _switching:
            _busy -= 1
            if _busy == 0:
                sys.setswitchinterval(_previous)


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
