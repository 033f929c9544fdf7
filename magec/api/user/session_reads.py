"""Whole-session reads (``GET …/sessions/{id}``) per client, bounded.

A session is read whole — its events parsed and turned into JSON — and a big one takes memory in
proportion (a 100 MB conversation: several times that while it is serialised). Nothing bounded how
many such reads one client ran at once: a UI that opens every listed session in parallel (Magec's
voice UI does, to show a preview of each) or a hostile token could multiply it. :class:`ReadGate`
lets :data:`PER_CLIENT` reads of one client run at once (the client's id; in open mode and for the
admin, per user id) and queues the rest in arrival order: they wait, they are not refused, so such
a UI still gets every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

#: whole-session reads of one client running at once (the others wait their turn)
PER_CLIENT = 4


class ReadGate:
    """One semaphore per client key, dropped when no read of that key runs or waits."""

    def __init__(self, per_key: int = PER_CLIENT) -> None:
        self.per_key = per_key
        self._gates: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = (asyncio.Semaphore(self.per_key), [0])
        gate[1][0] += 1
        try:
            async with gate[0]:
                yield
        finally:
            gate[1][0] -= 1
            if gate[1][0] == 0:
                self._gates.pop(key, None)
