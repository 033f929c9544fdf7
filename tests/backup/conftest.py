from __future__ import annotations

from collections.abc import Iterator

import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("fake-llm")) as s:
        yield s
