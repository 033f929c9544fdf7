"""Bounds on the realtime voice channel: concurrent connections and audio per connection.

* :class:`ConnectionLimiter` counts open listening connections; past ``limit`` a new one is
  refused (the endpoint says so in an ``error`` message and closes with 1013 "try again later").
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
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def acquire(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active = max(0, self.active - 1)


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
