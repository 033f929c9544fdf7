"""Shared fixtures of the costs tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake, RecordedRequest, Reply

USAGE = (600, 400)  # 1000 tokens a call


@pytest.fixture
def oai() -> Iterator[FakeServer]:
    """An OpenAI fake answering every chat call "answer" with 600 + 400 tokens of usage."""

    def respond(req: RecordedRequest) -> Reply | None:
        return Reply(text="answer", usage=USAGE) if req.route == "chat" else None

    with FakeServer(OpenAIFake("oai", responder=respond)) as s:
        yield s
