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
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from magec.backends.base import BackendSpec

T = TypeVar("T")
MAX_CLIENTS = 128
_lock = threading.Lock()
#: per event loop (``None``: no loop running), least recently used first
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OrderedDict[Hashable, Any]] = weakref.WeakKeyDictionary()
_no_loop: OrderedDict[Hashable, Any] = OrderedDict()


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
        while len(clients) > MAX_CLIENTS:
            clients.popitem(last=False)
    return client  # type: ignore[no-any-return]
