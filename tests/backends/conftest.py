"""Fixtures for backend tests: one loopback fake per vendor for the whole session, cleared per test."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The suite runs with --import-mode=importlib (test dirs are not packages): make our helper module
# importable by name from the test modules.
sys.path.insert(0, str(Path(__file__).parent))

from backend_helpers import KEY  # noqa: E402

from magec.testing.fake_providers import AnthropicFake, FakeServer, GeminiFake, OpenAIFake


@pytest.fixture(scope="session")
def _openai_server() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("alpha", embedding_dim=16, api_key=KEY)) as srv:
        yield srv


@pytest.fixture(scope="session")
def _anthropic_server() -> Iterator[FakeServer]:
    with FakeServer(AnthropicFake("claudia", api_key=KEY)) as srv:
        yield srv


@pytest.fixture(scope="session")
def _gemini_server() -> Iterator[FakeServer]:
    with FakeServer(GeminiFake("gemma", embedding_dim=12, api_key=KEY)) as srv:
        yield srv


@pytest.fixture
def openai_srv(_openai_server: FakeServer) -> Iterator[FakeServer]:
    _openai_server.clear()
    yield _openai_server
    _openai_server.clear()


@pytest.fixture
def anthropic_srv(_anthropic_server: FakeServer) -> Iterator[FakeServer]:
    _anthropic_server.clear()
    yield _anthropic_server
    _anthropic_server.clear()


@pytest.fixture
def gemini_srv(_gemini_server: FakeServer) -> Iterator[FakeServer]:
    _gemini_server.clear()
    yield _gemini_server
    _gemini_server.clear()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
