"""Fixtures for skill tests: a fake OpenAI-type LLM (loopback, the real wire protocol); the UI test
uses the Admin UI fixtures of ``tests/ui`` (a real ``magec serve``, fake providers, Chromium)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.ui.conftest import artifacts, browser, fakes, page, pw, server  # noqa: F401 - fixtures of the UI test


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("fake-llm")) as s:
        yield s


@pytest.fixture(autouse=True)
def _clear_llm(request: pytest.FixtureRequest) -> None:
    if "llm" in request.fixturenames:
        request.getfixturevalue("llm").clear()
