"""Process-wide reuse of SDK clients across runtime rebuilds.

Every config change rebuilds the runtime, and each agent's model gets a new connection object.
Building an SDK client creates an HTTP pool and an SSL context (27–59 ms of synchronous CPU measured
here, stalling every running stream). Clients are therefore shared by their full connection
parameters (URL, key, headers, connect and read deadlines): an unchanged backend keeps its warm client and pool, and a
changed one gets a new client. The cache is bounded; evicted clients are left to the garbage
collector rather than closed, because a running request may still hold them.

Clients are shared *per event loop*: an HTTP pool's connections belong to the loop that opened
them, and a process may run several loops one after another (CLI commands, tests calling
``asyncio.run`` twice). A client from a closed loop would hand out its dead keep-alive
connections ("cannot connect"), so each loop gets its own clients, dropped with the loop.

Closing: the SDKs' aiohttp sessions (:mod:`magec.backends._transport`) must be closed on their
loop. A serving context holds its loop's clients (:func:`held`); when the last holder on a loop
leaves, that loop's clients are closed. An evicted client is closed :data:`EVICTED_GRACE`
seconds later (a request may still be using it).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any, TypeVar

from magec.backends.base import BackendSpec

T = TypeVar("T")
MAX_CLIENTS = 128
#: seconds an evicted client stays open for the requests still using it
EVICTED_GRACE = 600.0
log = logging.getLogger(__name__)
_lock = threading.Lock()
#: per event loop (``None``: no loop running), least recently used first
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OrderedDict[Hashable, Any]] = weakref.WeakKeyDictionary()
_no_loop: OrderedDict[Hashable, Any] = OrderedDict()
#: serving contexts open on each loop (:func:`held`)
_holders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


def _clients() -> OrderedDict[Hashable, Any]:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _no_loop
    clients = _by_loop.get(loop)
    if clients is None:
        # a pooled connection refers to its loop, so a closed loop's clients are dropped here
        for old in [lp for lp in _by_loop if lp.is_closed()]:
            del _by_loop[old]
        clients = _by_loop[loop] = OrderedDict()
    return clients


def spec_key(vendor: str, spec: BackendSpec, base_url: str) -> Hashable:
    headers = tuple(sorted(spec.headers.items()))
    return (vendor, base_url, spec.api_key, headers, spec.timeout, spec.connect_timeout, spec.max_response_bytes)


def shared_client(key: Hashable, factory: Callable[[], T]) -> T:
    """The cached client for ``key`` on the running loop, creating it with ``factory`` on first use."""
    with _lock:
        clients = _clients()
        client = clients.get(key)
        if client is not None:
            clients.move_to_end(key)
            return client  # type: ignore[no-any-return]
    created = factory()
    with _lock:
        client = clients.setdefault(key, created)
        clients.move_to_end(key)
        evicted = [clients.popitem(last=False)[1] for _ in range(max(0, len(clients) - MAX_CLIENTS))]
    for old in evicted:
        _close_later(old)
    return client  # type: ignore[no-any-return]


async def _close(client: Any) -> None:
    close = getattr(client, "close", None)
    if close is None or not inspect.iscoroutinefunction(close):
        return  # a client without an async close holds nothing that must be closed on its loop
    try:
        await close()
    except Exception:  # noqa: BLE001 - closing is best effort; the connections die with the process
        log.debug("closing a backend client failed", exc_info=True)


def _close_later(client: Any) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    loop.call_later(EVICTED_GRACE, lambda: loop.create_task(_close(client)))


@contextlib.asynccontextmanager
async def held() -> AsyncIterator[None]:
    """Hold the running loop's clients open; the last holder to leave closes them."""
    loop = asyncio.get_running_loop()
    with _lock:
        _holders[loop] = _holders.get(loop, 0) + 1
    try:
        yield
    finally:
        with _lock:
            left = _holders[loop] = _holders[loop] - 1
            clients = _by_loop.pop(loop, None) if left == 0 else None
        for client in (clients or {}).values():
            await _close(client)
