"""Fixtures for the bot tests: two loopback LLM providers (answers "alpha says: …" / "beta says: …",
so a test sees which agent answered) and the platform fakes, one per module, cleared per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magec.testing.fake_platforms import DiscordFake, SlackFake, TelegramFake
from magec.testing.fake_providers import FakeServer, OpenAIFake


@pytest.fixture(scope="module")
def alpha_llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("alpha")) as s:
        yield s


@pytest.fixture(scope="module")
def beta_llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("beta")) as s:
        yield s


@pytest.fixture(scope="module")
def telegram_fake() -> Iterator[TelegramFake]:
    with TelegramFake() as tg:
        yield tg


@pytest.fixture(scope="module")
def discord_fake() -> Iterator[DiscordFake]:
    with DiscordFake(heartbeat_ms=500) as dc:  # short beats: the test sees heartbeats and ACKs
        yield dc


@pytest.fixture(scope="module")
def slack_fake() -> Iterator[SlackFake]:
    with SlackFake() as sl:
        yield sl


@pytest.fixture(autouse=True)
def _clear(request: pytest.FixtureRequest) -> None:
    for name in ("alpha_llm", "beta_llm", "telegram_fake", "discord_fake", "slack_fake"):
        if name in request.fixturenames:
            request.getfixturevalue(name).clear()
