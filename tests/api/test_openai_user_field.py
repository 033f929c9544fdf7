"""``user`` on ``/v1/chat/completions`` and ``/v1/responses`` is a string or a 400 naming it.

It was read as its Python text: ``{"id": 1}`` became the end user ``{'id': 1}`` (the client's
conversations stored under an id it never chose), and ``0`` / ``false`` the default ``openai``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.costs.helpers import agent, auth, backend, client


@pytest.fixture(scope="module")
def llm() -> Any:
    with FakeServer(OpenAIFake("alpha")) as s:
        yield s


def turns(llm: FakeServer) -> list[Any]:
    """The model calls the provider got (a new backend's background probes are not turns)."""
    return [r for r in llm.requests if r.path.endswith(("/chat/completions", "/responses"))]


@pytest.mark.parametrize("user", [{"id": 1}, 0, False, ["alice"], 3.5])
async def test_a_user_that_is_no_string_is_refused_naming_it(tmp_path: Path, llm: FakeServer, user: Any) -> None:
    async with running_apps(tmp_path / "d") as apps:
        aid = await agent(apps, await backend(apps, llm), "a")
        headers = auth((await client(apps, "c", [aid]))["token"])
        asked = len(turns(llm))
        for path, body in (("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
                           ("/v1/responses", {"input": "hi"})):
            r = await apps.user.post(path, headers=headers, json={"model": "a", "user": user, **body})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["param"] == "user" and "must be a string" in r.json()["error"]["message"]
            r = await apps.user.post(path, headers=headers, json={"model": "a", "user": "alice", **body})
            assert r.status_code == 200, r.text
        assert len(turns(llm)) == asked + 2  # the refused ones reached no provider
        sessions = await apps.user.get(f"/api/v1/agent/apps/{aid}/users/alice/sessions", headers=headers)
        assert len(sessions.json()) == 1  # /v1/responses stores; chat without X-Session-Id does not
