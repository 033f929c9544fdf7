"""Parsed session events kept between turns, so a turn's cost does not grow with the session.

Without it every turn re-reads and re-parses the whole session (ADK's runner loads it once per
turn): 26 ms at turn 1, 251 ms at turn 300. With it a turn reads the session row (its revision)
and only the events stored since the cached revision — normally none, because this process
appended them itself.

Contract:

* An entry is ``(revision, update_time, events)`` for one session key. It is used only when the
  stored row's revision and update time match (another replica's append or a delete + re-create
  moves them), or when the stored revision is newer: then only events with ``seq > revision`` are
  read, and only if the first of them continues the cached list (checked by the caller through
  :meth:`tail_id`), else the session is read whole.
* Events are shared between the cache and the sessions built from it and are treated as
  immutable (ADK copies an event before changing it); each session gets its own list.
* Bounded: at most ``max_events`` events and ``max_bytes`` bytes of stored event JSON in all
  (least recently used sessions go first); a single session larger than a quarter of either is
  not cached at all. Bytes matter as much as events: one event may carry a 2 MiB message
  (``limits.bodyBytes``), so an event count alone let clients pin gigabytes. The parsed events take
  a few times their JSON's size in memory.
* A turn may read a *window* (:func:`windowed`): the app says where the events it can ever send
  start (an agent's context guard keeps its last N user turns), and the session a turn loads holds
  only those, so ADK's per-call work (building and deep-copying every event's content) no longer
  grows with the session either.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from google.adk.events.event import Event

Key = tuple[str, str, str]
#: (events, the session's state) -> index of the first event the running turn needs (None: the
#: whole session)
Window = Callable[[list[Event], Mapping[str, Any]], int]

_window: ContextVar[Window | None] = ContextVar("magec_session_window", default=None)


@contextmanager
def windowed(window: Window | None) -> Iterator[None]:
    """Sessions read in the body (a turn) hold only ``window(events)`` onwards."""
    token = _window.set(window)
    try:
        yield
    finally:
        try:
            _window.reset(token)
        except ValueError:  # reset from another context (a generator closed elsewhere): harmless
            _window.set(None)


def current_window() -> Window | None:
    return _window.get()

#: default budgets: 50,000 events, 64 MiB of their stored JSON (``limits.sessionCacheBytes``)
DEFAULT_MAX_EVENTS = 50_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass
class Entry:
    revision: int
    update_time: float
    events: list[Event] = field(default_factory=list)
    #: the stored JSON length of ``events``, summed
    nbytes: int = 0


class EventCache:
    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._size = 0
        #: stored JSON bytes of every cached event (``magec_session_cache_bytes``)
        self.nbytes = 0
        #: events parsed from storage (what the cache saves; ``magec_session_events_loaded_total``)
        self.loaded = 0
        #: events handed to sessions read whole or as a window (``magec_session_events_served``)
        self.served = 0

    def get(self, key: Key) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def _too_big(self, entry: Entry) -> bool:
        return len(entry.events) > self.max_events // 4 or entry.nbytes > self.max_bytes // 4

    def put(self, key: Key, revision: int, update_time: float, events: list[Event], nbytes: int) -> None:
        """Keep ``events`` (``nbytes``: their stored JSON's length) as ``key``'s at ``revision``."""
        self.drop(key)
        entry = Entry(revision, update_time, list(events), nbytes)
        if self._too_big(entry):
            return
        self._entries[key] = entry
        self._size += len(events)
        self.nbytes += nbytes
        self._evict()

    def appended(
        self, key: Key, previous: int, revision: int, update_time: float, event: Event, nbytes: int
    ) -> None:
        """This process stored ``event`` (``nbytes`` of JSON) at ``revision``; extend the entry if
        it was current."""
        entry = self._entries.get(key)
        if entry is None:
            return
        if entry.revision != previous:
            self.drop(key)
            return
        entry.events.append(event)
        entry.revision, entry.update_time = revision, update_time
        entry.nbytes += nbytes
        self._size += 1
        self.nbytes += nbytes
        if self._too_big(entry):
            self.drop(key)
        else:
            self._evict()

    def _evict(self) -> None:
        while (self._size > self.max_events or self.nbytes > self.max_bytes) and self._entries:
            _, old = self._entries.popitem(last=False)
            self._size -= len(old.events)
            self.nbytes -= old.nbytes

    def drop(self, key: Key) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._size -= len(old.events)
            self.nbytes -= old.nbytes

    def clear(self) -> None:
        self._entries.clear()
        self._size = 0
        self.nbytes = 0
