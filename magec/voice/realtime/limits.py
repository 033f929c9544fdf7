"""Bounds on the realtime voice channel: concurrent connections and audio per connection.

* :class:`ConnectionLimiter` counts open listening connections, in all and per client; past
  either limit a new one is refused (the endpoint says so in an ``error`` message and closes with 1013 "try again later").
  ``limit == 0`` disables the channel.
* :class:`MessageBudget` caps text messages (a ``setModel`` flood would reload models): a burst of
  :data:`TEXT_BURST`, then :data:`TEXT_PER_SECOND`; and binary frames, whatever audio they hold:
  :data:`FRAME_BURST`, then :data:`FRAMES_PER_SECOND` (each frame is a pass of Python work on the
  event loop, and a one-sample frame costs the audio budget next to nothing).
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
#: binary frames a connection may send at once, then per second: a browser sends 4096-sample frames
#: (about 12 a second at 48 kHz), a device with 10 ms frames 100; one-sample frames within the
#: audio budget came at 24,000 a second, more than one core can take (about 60 µs each)
FRAME_BURST, FRAMES_PER_SECOND = 1000, 400.0


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
    """A token bucket for a connection's messages: ``burst`` at once, then ``per_second`` (text
    messages by default, see :data:`TEXT_BURST`; frames: :data:`FRAME_BURST`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, burst: int = TEXT_BURST,
                 per_second: float = TEXT_PER_SECOND) -> None:
        self._clock = clock
        self._burst = float(burst)
        self._rate = per_second
        self._tokens = float(burst)
        self._at = clock()

    def spend(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
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
