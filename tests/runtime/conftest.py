from __future__ import annotations

from collections.abc import Iterator

import pytest

from magec.testing.fake_providers import AnthropicFake, FakeServer, GeminiFake, OpenAIFake


@pytest.fixture(scope="module")
def openai_x() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("openai-x", api_key="sk-x-key-1234")) as s:
        yield s


@pytest.fixture(scope="module")
def openai_y() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("openai-y")) as s:
        yield s


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeServer]:
    with FakeServer(AnthropicFake("claude-fake")) as s:
        yield s


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeServer]:
    with FakeServer(GeminiFake("gemini-fake")) as s:
        yield s


@pytest.fixture(autouse=True)
def _clear(request: pytest.FixtureRequest) -> None:
    for name in ("openai_x", "openai_y", "anthropic_fake", "gemini_fake"):
        if name in request.fixturenames:
            request.getfixturevalue(name).clear()
