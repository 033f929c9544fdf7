"""Bounds on the realtime voice channel: concurrent connections and audio per connection.

* :class:`ConnectionLimiter` counts open listening connections, in all and per client; past
  either limit a new one is refused (the endpoint says so in an ``error`` message and closes with 1013 "try again later").
  ``limit == 0`` disables the channel.
* :class:`MessageBudget` caps text messages (a ``setModel`` flood would reload models): a burst of
  :data:`TEXT_BURST`, then :data:`TEXT_PER_SECOND`.
* :class:`AudioBudget` caps the audio one connection may send to what a microphone produces: a
  burst of :data:`BURST_SECONDS` and then :data:`REALTIME_FACTOR` times real time. A client
  streaming faster (to make the server burn CPU) is refused, so the cost of a connection is bounded
  by the cost of listening to one live microphone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: audio seconds a connection may send up front (a device reconnecting flushes its buffer)
BURST_SECONDS = 10.0
#: audio seconds per wall-clock second after the burst
REALTIME_FACTOR = 1.5
#: one binary message may hold at most this many bytes (a second of 48 kHz float32 audio is 192 kB)
MAX_FRAME_BYTES = 256 * 1024
#: text messages (config, setModel: a model switch loads a model) a connection may send at once,
#: then per second
TEXT_BURST, TEXT_PER_SECOND = 20, 2.0


class ConnectionLimiter:
    """At most ``limit`` connections, and at most ``per_key`` of them per key (a client id; the key
    ``None`` — open mode, no client — has only the total): clients are mutually untrusted, and one
    holding every slot with idle connections would lock every other client's devices out."""

    def __init__(self, limit: int, per_key: int | None = None) -> None:
        self.limit = limit
        self.per_key = per_key if per_key is not None else (limit + 1) // 2
        self.active = 0
        self._by_key: dict[str, int] = {}

    def acquire(self, key: str | None = None) -> bool:
        if self.active >= self.limit:
            return False
        if key is not None:
            if self._by_key.get(key, 0) >= self.per_key:
                return False
            self._by_key[key] = self._by_key.get(key, 0) + 1
        self.active += 1
        return True

    def full_for(self, key: str | None) -> bool:
        """Whether ``key`` holds its share (rather than the channel being full)."""
        return key is not None and self._by_key.get(key, 0) >= self.per_key

    def release(self, key: str | None = None) -> None:
        self.active = max(0, self.active - 1)
        if key is not None and key in self._by_key:
            self._by_key[key] -= 1
            if self._by_key[key] <= 0:
                del self._by_key[key]


class MessageBudget:
    """A token bucket for a connection's text messages (see :data:`TEXT_BURST`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens = float(TEXT_BURST)
        self._at = clock()

    def spend(self) -> bool:
        now = self._clock()
        self._tokens = min(float(TEXT_BURST), self._tokens + (now - self._at) * TEXT_PER_SECOND)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class AudioBudget:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self.used = 0.0  # audio seconds received

    def spend(self, seconds: float) -> bool:
        """Account ``seconds`` of audio; False when the connection is over its budget."""
        self.used += seconds
        allowed = BURST_SECONDS + REALTIME_FACTOR * (self._clock() - self._start)
        return self.used <= allowed
