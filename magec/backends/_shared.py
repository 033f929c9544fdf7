"""Process-wide reuse of SDK clients across runtime rebuilds.

Every config change rebuilds the runtime, and each agent's model gets a new connection object.
Building an SDK client creates an HTTP pool and an SSL context (27–59 ms of synchronous CPU measured
here, stalling every running stream). Clients are therefore shared by their full connection
parameters (URL, key, headers, connect and read deadlines): an unchanged backend keeps its warm client and pool, and a
changed one gets a new client. The cache is bounded; evicted clients are left to the garbage
collector rather than closed, because a running request may still hold them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from magec.backends.base import BackendSpec

T = TypeVar("T")
MAX_CLIENTS = 128
_lock = threading.Lock()
_clients: OrderedDict[Hashable, Any] = OrderedDict()


def spec_key(vendor: str, spec: BackendSpec, base_url: str) -> Hashable:
    headers = tuple(sorted(spec.headers.items()))
    return (vendor, base_url, spec.api_key, headers, spec.timeout, spec.connect_timeout, spec.max_response_bytes)


def shared_client(key: Hashable, factory: Callable[[], T]) -> T:
    """The cached client for ``key``, creating it with ``factory`` on first use."""
    with _lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client  # type: ignore[no-any-return]
    created = factory()
    with _lock:
        client = _clients.setdefault(key, created)
        _clients.move_to_end(key)
        while len(_clients) > MAX_CLIENTS:
            _clients.popitem(last=False)
    return client  # type: ignore[no-any-return]
