"""Fixtures for skill tests: a fake OpenAI-type LLM (loopback, the real wire protocol). The Skills
page's test lives with the other UI tests (tests/ui/test_skills_ui.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("fake-llm")) as s:
        yield s


@pytest.fixture(autouse=True)
def _clear_llm(request: pytest.FixtureRequest) -> None:
    if "llm" in request.fixturenames:
        request.getfixturevalue("llm").clear()
