"""Flow test fixtures: three loopback fakes (OpenAI, Anthropic, Gemini) sharing one arrival log.

Unscripted chat requests are answered by a responder that logs ``(fake name, monotonic time)``
in arrival order and replies ``"<fake>-reply-<n>"`` after ``arrivals.delay`` seconds, so tests can
prove call order and overlap across different backends. ``arrivals.plan[(fake, n)] = Reply(...)``
replaces the n-th chat reply of one fake (e.g. a tool call in the third request).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from magec.testing.fake_providers import (
    AnthropicFake,
    FakeServer,
    GeminiFake,
    OpenAIFake,
    RecordedRequest,
    Reply,
)


@dataclass
class Arrivals:
    log: list[tuple[str, float]] = field(default_factory=list)
    delay: float = 0.0
    plan: dict[tuple[str, int], Reply] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def responder(self, name: str):  # type: ignore[no-untyped-def]
        def respond(req: RecordedRequest) -> Reply | None:
            if req.route != "chat":
                return None
            with self._lock:
                self.log.append((name, time.monotonic()))
                n = sum(1 for who, _ in self.log if who == name)
                planned = self.plan.get((name, n))
            return planned or Reply(text=f"{name}-reply-{n}", delay=self.delay)

        return respond

    def names(self) -> list[str]:
        return [n for n, _ in self.log]

    def clear(self) -> None:
        with self._lock:
            self.log.clear()
            self.plan.clear()
            self.delay = 0.0


@pytest.fixture(scope="module")
def arrivals() -> Arrivals:
    return Arrivals()


@pytest.fixture(scope="module")
def oai(arrivals: Arrivals) -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("oai", responder=arrivals.responder("oai"))) as s:
        yield s


@pytest.fixture(scope="module")
def claude(arrivals: Arrivals) -> Iterator[FakeServer]:
    with FakeServer(AnthropicFake("claude", responder=arrivals.responder("claude"))) as s:
        yield s


@pytest.fixture(scope="module")
def gem(arrivals: Arrivals) -> Iterator[FakeServer]:
    with FakeServer(GeminiFake("gem", responder=arrivals.responder("gem"))) as s:
        yield s


@pytest.fixture(autouse=True)
def _clear(request: pytest.FixtureRequest) -> None:
    for name in ("oai", "claude", "gem"):
        if name in request.fixturenames:
            request.getfixturevalue(name).clear()
    if "arrivals" in request.fixturenames:
        request.getfixturevalue("arrivals").clear()
