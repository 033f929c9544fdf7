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
and raises the first threshold; on exit it unfreezes and restores that threshold, so a
process that opens several contexts in turn (tests, CLI commands) never keeps one context's
objects frozen past its end. No collection runs first: whatever garbage start-up left is freed
at the unfreeze (a serving process keeps it, a few MB at most, instead of paying a full
collection per context in a test process).

* **Code loaded later** lives as long as the process too: a fresh install imports a vendor SDK
  when its first backend is added (the openai SDK: ~25k objects, 485 pydantic models), and left
  unfrozen those objects are traversed by every older collection (20–45 ms on a slow host).
  :func:`settle_new_code` (called after each runtime rebuild) freezes again when modules were
  imported since the last freeze, after collecting the young generations so that little garbage
  is frozen with it: once per newly used vendor, not per request.
* **A bulky request** (a long history: ~7 objects per message, all alive as long as the turn)
  still costs the older collections that run meanwhile: each traverses all of it, holding the
  GIL — 10–45 ms per middle-generation pass and 100–120 ms per full pass at 16k messages on a
  slow host. None of it can be cyclic garbage while the turn runs, so that traversal is wasted.
  :func:`defer_older_collections` defers them for a list (the history; :func:`deferred` for a
  block: the parsing of a large body, before the history exists) until it is let go
  (:func:`let_go`, at the turn's end) or dies: while any deferral lives, only the youngest
  generation is collected (short-lived cycles of other requests still go at once); once the last
  ends its objects are being freed by reference counting, and the older passes that follow
  traverse nothing of them. Ending at the let-go matters: a finished response often sits in a
  reference cycle with its turn's objects, which only an older pass would free. Bounded: a
  deferral older than :data:`MAX_DEFERRAL_S` gives way (checked at every young collection and
  every new deferral), so an owner caught in a cycle, or bulky requests overlapping without a
  break, never stop the older collections for long.
* **Start-up** (:func:`collection_paused`): ``magec serve`` imports its modules and builds its
  apps with the collector paused; nothing they allocate is garbage, and the passes they trigger
  were a fifth of the imports' CPU. The collector is back on before anything is served.
* **At exit** (:func:`before_exit`) nothing is collected any more: the process is ending.
* **Freeing** such a history is one uninterruptible cascade of deallocations (12 ms at 16k
  messages), on whichever thread drops the last reference — the event loop's, at the end of a
  handler. :func:`let_go` empties a list at once and frees what it held in a worker thread, a
  slice at a time, so the loop gets the GIL between slices.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

#: first-generation threshold while serving (CPython's default is 700)
YOUNG_THRESHOLD = 7000
#: the older generations' thresholds while a deferral lives (never reached)
DEFERRED = 1 << 30
#: longest the older collections wait, whatever keeps deferring them
MAX_DEFERRAL_S = 30.0
#: lists shorter than this are freed where :func:`let_go` is called (cheaper than a hand-over)
LET_GO_MIN = 512
#: items :func:`let_go`'s thread frees at a time
_SLICE = 256

_frozen_modules: int | None = None  # len(sys.modules) at the last freeze; None: not settled
# A deferral ends where its owner dies: in any thread, and inside a collection or another
# deferral's bookkeeping of the same thread (hence reentrant).
_lock = threading.RLock()
_live = 0
_since = 0.0
_saved: tuple[int, int] | None = None  # the older thresholds to restore; None: not deferring
_expired = False  # the running deferral gave way: no new one until none lives
_dropper = ThreadPoolExecutor(1, thread_name_prefix="magec-let-go")
# id(owner) -> the finalizer that ends its deferral (removed when it runs: no id outlives its owner)
_deferrals: dict[int, weakref.finalize] = {}


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collection inside the block (enabled again after it, if it was before).

    For start-up's imports: they only add long-lived objects (modules, classes, pydantic schemas),
    so every collection they trigger traverses a growing heap and finds nothing to free; with the
    collector paused, ``import magec.server`` took 0.95 s instead of 1.2 s here. The objects stay
    unfrozen: :func:`settled_heap` freezes them once the runtime is up.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    global _frozen_modules
    # only the first threshold is this context's: the older ones are the deferrals' (below)
    young = gc.get_threshold()[0]
    gc.freeze()
    _frozen_modules = len(sys.modules)
    gc.set_threshold(max(young, YOUNG_THRESHOLD), *gc.get_threshold()[1:])
    try:
        yield
    finally:
        _frozen_modules = None
        gc.set_threshold(young, *gc.get_threshold()[1:])
        gc.unfreeze()


def settle_new_code() -> bool:
    """Freeze the heap again if modules were imported since the last freeze (in a settled heap);
    whether it did."""
    global _frozen_modules
    if _frozen_modules is None or len(sys.modules) <= _frozen_modules:
        return False
    _frozen_modules = len(sys.modules)
    gc.collect(1)
    gc.freeze()
    return True


def before_exit() -> None:
    """The process is about to end (its server has shut down, its stores are closed): freeze the
    heap, so that the interpreter's own collections at exit traverse none of it.

    Why: CPython's finalization runs full collections over every object still alive; for a
    serving process's heap that took 1.2–1.5 s of a 1.4–1.6 s stop on a slow host (a stop of an
    idle ``magec serve``: 0.26–0.32 s with the freeze). The memory goes back to the OS whole.
    """
    gc.disable()
    gc.freeze()


def defer_older_collections(owner: list[Any]) -> None:
    """Collect only the youngest generation until ``owner`` (a list that takes a weak reference)
    is let go (:func:`let_go`) or dies, for :data:`MAX_DEFERRAL_S` at most."""
    _began()
    key = id(owner)
    _deferrals[key] = weakref.finalize(owner, _end_deferral, key)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """:func:`defer_older_collections` for a block (a large body's parsing: its allocations would
    trigger older passes, full ones included, before the history that follows defers them)."""
    _began()
    try:
        yield
    finally:
        _ended()


def _end_deferral(key: int) -> None:
    _deferrals.pop(key, None)
    _ended()


def deferring() -> bool:
    """Whether the older collections are deferred now."""
    return _saved is not None


def let_go(items: list[Any]) -> Future[None] | None:
    """Empty ``items`` now (every holder of this list sees it empty), end the deferral it carried,
    and free what it held in a worker thread, a slice at a time; the future of that work
    (``None`` for a short list, emptied in place)."""
    deferral = _deferrals.get(id(items))
    if deferral is not None:
        deferral()  # runs once: its owner's later death ends nothing more
    if len(items) < LET_GO_MIN:
        items.clear()
        return None
    held = items[:]
    items.clear()
    return _dropper.submit(_drop, held)


def _drop(held: list[Any]) -> None:
    while held:
        del held[-_SLICE:]


def _began() -> None:
    global _live, _since, _saved
    with _lock:
        _live += 1
        now = time.monotonic()
        if _saved is None and not _expired:
            _since = now
            young, middle, old = gc.get_threshold()
            _saved = (middle, old)
            gc.set_threshold(young, DEFERRED, DEFERRED)
            gc.callbacks.append(_watch)
        elif _saved is not None and now - _since > MAX_DEFERRAL_S:
            _give_way()


def _ended() -> None:
    global _live, _expired
    with _lock:
        _live -= 1
        if _live <= 0:
            _live = 0
            _expired = False
            _restore()


def _watch(phase: str, info: dict[str, Any]) -> None:
    """At every young collection: a deferral past its bound gives way."""
    if phase == "stop" and _saved is not None and time.monotonic() - _since > MAX_DEFERRAL_S:
        # never wait for the lock inside a collection; the next young collection checks again
        if _lock.acquire(blocking=False):
            try:
                _give_way()
            finally:
                _lock.release()


def _give_way() -> None:
    global _expired
    _expired = True
    _restore()


def _restore() -> None:
    global _saved
    if _saved is not None:
        gc.set_threshold(gc.get_threshold()[0], *_saved)
        _saved = None
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(_watch)
