"""Feedback while a local model loads.

:func:`loading` wraps a (blocking) model load. If it takes longer than ``delay`` seconds and stderr
is a terminal (``magec`` CLI, a developer's shell), a ``rich`` spinner shows what is loading; when
it finishes a line says how long it took. Otherwise (a server under a process manager, tests) the
load is only logged: DEBUG on start, INFO with the duration on completion.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("magec.backends.local")


@contextmanager
def loading(what: str, delay: float = 1.0) -> Iterator[None]:
    """Show a spinner for ``what`` after ``delay`` seconds (TTY only); log the load either way."""
    from rich.console import Console

    console = Console(stderr=True)
    interactive = console.is_terminal
    status: list[Any] = []
    lock = threading.Lock()
    done = False

    def show() -> None:
        with lock:
            if done:
                return
            st = console.status(f"Loading {what}…", spinner="dots")
            st.start()
            status.append(st)

    timer = threading.Timer(delay, show) if interactive else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    log.debug("loading %s", what)
    started = time.perf_counter()
    try:
        yield
    finally:
        with lock:
            done = True
            if timer is not None:
                timer.cancel()
            for st in status:
                st.stop()
        elapsed = time.perf_counter() - started
        if status:
            console.print(f"[green]✓[/green] loaded {what} in {elapsed:.1f}s")
        log.info("loaded %s in %.2fs", what, elapsed)
