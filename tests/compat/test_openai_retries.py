"""The openai SDK's own retries against a backend whose circuit breaker opened.

A provider failure opens the backend's breaker (``server.breakerFailures: 1`` here): calls fail at
once with ``503 backend_unavailable`` until the cool-down ends. That 503 carried no
``Retry-After``, so the SDK (two retries by default, after ~0.5 s and ~1 s) spent every retry on
the open breaker and raised although the provider was back; a ``Retry-After`` naming the seconds
until the breaker lets a call through makes the SDK's retry land then, and the call succeeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
COOLDOWN = 5


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, FakeServer]]:
    data: Path = tmp_path_factory.mktemp("breaker-retries")
    with FakeServer(OpenAIFake("flaky")) as fake, ServerProcess(
        data_dir=data, server_config={"breakerFailures": 1, "breakerCooldown": COOLDOWN}
    ) as server:
        admin = httpx.Client(base_url=server.admin_url, timeout=30)
        b = admin.post(f"{A}/backends", json={"name": "Flaky", "type": "openai", "url": fake.url,
                                              "maxAttempts": 1}).json()
        admin.post(f"{A}/agents", json={"name": "Helper", "llm": {"backend": b["id"], "model": "m"}})
        assert httpx.get(f"{server.user_url}/v1/models/Helper").status_code == 200
        yield server, fake


def test_the_open_breaker_says_when_to_retry(setup: tuple[ServerProcess, FakeServer]) -> None:
    server, fake = setup
    fake.clear()
    fake.script(Reply.fail(500, "overloaded upstream"), route="chat")
    c = openai.OpenAI(base_url=f"{server.user_url}/v1", api_key="any", max_retries=0)
    with pytest.raises(openai.InternalServerError):  # the provider's 500: the breaker opens
        c.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.InternalServerError) as down:
        c.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "hi"}])
    assert down.value.status_code == 503 and down.value.code == "backend_unavailable"  # type: ignore[attr-defined]
    wait = int(down.value.response.headers["retry-after"])
    assert 1 <= wait <= COOLDOWN
    assert "x-should-retry" not in down.value.response.headers  # a transient failure: retries stay on
    assert len(fake.requests_to("chat")) == 1  # the open breaker answered without the provider


def test_the_sdks_default_retries_outlast_the_breaker(setup: tuple[ServerProcess, FakeServer]) -> None:
    server, fake = setup
    c = openai.OpenAI(base_url=f"{server.user_url}/v1", api_key="any")  # max_retries: the SDK's default, 2
    down = httpx.post(f"{server.user_url}/v1/chat/completions", timeout=30,
                      json={"model": "Helper", "messages": [{"role": "user", "content": "x"}]})
    if down.status_code != 503:  # the first test's breaker closed meanwhile: open it again
        fake.clear()
        fake.script(Reply.fail(500, "overloaded upstream"), route="chat")
        with pytest.raises(openai.InternalServerError):
            c.with_options(max_retries=0).chat.completions.create(
                model="Helper", messages=[{"role": "user", "content": "hi"}])
    fake.clear()
    answer = c.chat.completions.create(model="Helper", messages=[{"role": "user", "content": "back again"}])
    assert answer.choices[0].message.content == "flaky says: back again"
    assert len(fake.requests_to("chat")) == 1  # one call let through once the breaker allowed it


def test_a_stream_into_the_open_breaker_says_when_to_retry(setup: tuple[ServerProcess, FakeServer]) -> None:
    server, fake = setup
    fake.clear()
    fake.script(Reply.fail(500, "overloaded upstream"), route="chat")
    c = openai.OpenAI(base_url=f"{server.user_url}/v1", api_key="any", max_retries=0)
    ask = {"model": "Helper", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with pytest.raises(openai.InternalServerError):  # the provider's 500, or the breaker still open
        list(c.chat.completions.create(**ask))
    with pytest.raises(openai.InternalServerError) as down:  # a stream's status waits for its first output
        list(c.chat.completions.create(**ask))
    assert down.value.status_code == 503 and 1 <= int(down.value.response.headers["retry-after"]) <= COOLDOWN
