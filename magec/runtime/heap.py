"""The garbage collector, tuned for a serving process whose start-up heap never dies.

Why: after start-up a magec process holds ~250k long-lived objects (ADK, the SDKs, pydantic
schemas, the built apps) that CPython's cyclic collector re-traverses on every older-generation
collection. A request that builds many objects (a 16k-message ``/v1`` history is ~100k pydantic
objects) triggers such collections while it runs, in whichever thread allocates, holding the GIL:
measured 27–45 µs per message with the default settings against ~17 µs with collection off, and
event-loop stalls of 300 ms (issue "Scale", goal 2). Freezing the start-up heap (``gc.freeze``,
as CPython documents for long-lived servers) takes it out of every later collection; a larger
first-generation threshold makes the young collections fewer (each still sees only young
objects). Cycles created later are still collected as before.

Contract: :func:`settled_heap` is entered once the runtime is up. On entry it freezes the heap
and raises the first threshold; on exit it unfreezes and restores the previous thresholds, so a
process that opens several contexts in turn (tests, CLI commands) never keeps one context's
objects frozen past its end. No collection runs first: whatever garbage start-up left is freed
at the unfreeze (a serving process keeps it, a few MB at most, instead of paying a full
collection per context in a test process).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: first-generation threshold while serving (CPython's default is 700)
YOUNG_THRESHOLD = 7000


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(previous[0], YOUNG_THRESHOLD), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
