"""The interpreter's thread switch interval while serving: 1 ms instead of CPython's 5 ms.

Why: magec moves long CPU work off the event loop into worker threads (a long history's mapping,
its request body, a large JSON body's parsing), so that other requests keep being served. Under
the GIL the loop then waits up to the switch interval for every re-acquisition of the lock —
after each ``select``, each socket call — while the worker computes (CPython's "convoy effect").
A busy worker stretched single loop iterations to 20–30 ms (a 16k-message ``/v1`` request, issue
"Scale", goal 2); at 1 ms the same request's longest stall measured 5–7 ms, the worker's CPU time
unchanged within noise. The interval only matters while a thread waits for the lock: a process
with one busy thread pays nothing.

Contract: :func:`prompt_switching` sets the interval on entry and restores the previous one on
exit (a test process opens several contexts in turn).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

#: seconds a thread may hold the GIL while another waits for it (CPython's default: 0.005)
SWITCH_INTERVAL = 0.001


@contextlib.contextmanager
def prompt_switching() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
