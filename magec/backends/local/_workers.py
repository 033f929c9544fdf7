"""Run local models off the event loop, one call at a time per model, loaded once per process.

Contract:

* :func:`loaded` returns the :class:`Worker` for ``key`` (a model path), calling ``load`` at most
  once per key for the process even when several threads or event loops ask at the same time. A
  failed load is not cached (the next call retries).
* A :class:`Worker` owns one model object and a dedicated single-thread executor. Every call on that
  model runs on that thread, so calls are serialised (llama.cpp contexts, CTranslate2 and ONNX
  sessions are not safe to share between concurrent calls) and never block the event loop. The
  executor is loop-agnostic: one model can serve several event loops (tests, the CLI).
* :meth:`Worker.call` awaits ``fn(model)``; :meth:`Worker.stream` turns a blocking iterator produced
  on the worker thread into an async iterator. If the consumer stops early (client disconnect,
  ``aclose``), the producer is told to stop at its next item.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import AsyncGenerator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from magec.backends.local._progress import loading

M = TypeVar("M")
R = TypeVar("R")
T = TypeVar("T")

_END = object()


class Worker(Generic[M]):
    """One loaded model and the single thread allowed to use it."""

    def __init__(self, name: str, model: M) -> None:
        self.name = name
        self.model = model
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"magec-local-{name}")

    async def call(self, fn: Callable[[M], R]) -> R:
        """Run ``fn(model)`` on the model's thread and return its result (exceptions propagate)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self.model)

    async def stream(self, produce: Callable[[M, threading.Event], Iterable[T]]) -> AsyncGenerator[T, None]:
        """Yield the items of ``produce(model, stop)`` as the worker thread makes them.

        ``produce`` should check ``stop.is_set()`` between items; it is set when the consumer goes
        away. An exception raised by ``produce`` is re-raised here after the items before it.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        def run(model: M) -> None:
            try:
                for item in produce(model, stop):
                    if stop.is_set():
                        break
                    put((True, item))
            except BaseException as e:  # handed to the consumer, re-raised there
                put((False, e))
            finally:
                put(_END)

        future = loop.run_in_executor(self._executor, run, self.model)
        try:
            while True:
                entry = await queue.get()
                if entry is _END:
                    break
                ok, value = entry
                if not ok:
                    raise value
                yield value
        finally:
            stop.set()
            if not future.done():
                # let the producer notice ``stop``; the model stays usable for the next caller
                await asyncio.shield(future)

    def shutdown(self, wait: bool = False) -> None:
        """Stop the thread; with ``wait``, also release the model (its ``close()``, if any)."""
        self._executor.shutdown(wait=wait, cancel_futures=True)
        close = getattr(self.model, "close", None)
        if wait and callable(close):
            close()


_cache: dict[str, Worker[Any]] = {}
_key_locks: dict[str, threading.Lock] = {}
_cache_lock = threading.Lock()


def _load_blocking(key: str, name: str, load: Callable[[], M]) -> Worker[M]:
    with _cache_lock:
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        worker = _cache.get(key)
        if worker is None:
            with loading(name):
                worker = Worker(name, load())
            _cache[key] = worker
        return worker


async def loaded(key: str, name: str, load: Callable[[], M]) -> Worker[M]:
    """The worker for ``key``, loading the model with ``load()`` (in a thread) on first use."""
    worker = _cache.get(key)
    if worker is not None:
        return worker
    return await asyncio.to_thread(_load_blocking, key, name, load)


def unload_all(wait: bool = False) -> None:
    """Forget every loaded model (tests, shutdown). Running calls finish on their threads.

    Registered with ``atexit`` (``wait=True``) so native models (llama.cpp) are freed while their
    libraries are still loaded, instead of in ``__del__`` during interpreter teardown.
    """
    with _cache_lock:
        workers = list(_cache.values())
        _cache.clear()
    for w in workers:
        w.shutdown(wait=wait)


atexit.register(unload_all, True)
