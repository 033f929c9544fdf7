from __future__ import annotations

import pytest

from magec.backends.urls import anthropic_base_url, gemini_base_url, join_url, openai_base_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", "https://api.openai.com/v1"),
        ("   ", "https://api.openai.com/v1"),
        ("http://parakeet:5092", "http://parakeet:5092/v1"),
        ("http://parakeet:5092/", "http://parakeet:5092/v1"),
        ("http://ollama:11434/v1", "http://ollama:11434/v1"),
        ("http://ollama:11434/v1/", "http://ollama:11434/v1"),
        ("http://host/openai/v1", "http://host/openai/v1"),
        ("http://host//openai//v1//", "http://host/openai/v1"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("localhost:8000", "http://localhost:8000/v1"),
    ],
)
def test_openai_base_url(given: str, expected: str) -> None:
    assert openai_base_url(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", "https://api.anthropic.com"),
        ("http://proxy:8317", "http://proxy:8317"),
        ("http://proxy:8317/", "http://proxy:8317"),
        ("http://proxy:8317/v1", "http://proxy:8317"),
        ("http://proxy/anthropic/v1/", "http://proxy/anthropic"),
    ],
)
def test_anthropic_base_url(given: str, expected: str) -> None:
    assert anthropic_base_url(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", "https://generativelanguage.googleapis.com"),
        ("http://g:1/", "http://g:1"),
        ("http://g:1/v1beta", "http://g:1"),
        ("http://g:1/gemini/v1beta/", "http://g:1/gemini"),
    ],
)
def test_gemini_base_url(given: str, expected: str) -> None:
    assert gemini_base_url(given) == expected


@pytest.mark.parametrize(
    ("base", "path", "expected"),
    [
        ("http://h:1", "/v1/audio/speech", "http://h:1/v1/audio/speech"),
        ("http://h:1/", "v1/x", "http://h:1/v1/x"),
        ("http://h:1/openai/v1/", "/audio/speech", "http://h:1/openai/v1/audio/speech"),
        ("http://h:1/p", "", "http://h:1/p"),
    ],
)
def test_join_url(base: str, path: str, expected: str) -> None:
    assert join_url(base, path) == expected
    assert "//" not in expected.split("://", 1)[1]
