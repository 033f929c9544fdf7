"""A webhook caller cannot pile up accepted runs: each ``202`` is bounded like a turn.

With a ``callbackUrl`` the answer is ``202`` at once and the run goes on in the background, then
its callback is sent (three attempts, 30 s each). Nothing bounded how many such runs one caller
had going: a run past ``limits.maxRuns`` failed, but only in its callback, after it had been
accepted, recorded and given a task — so a token holder sending ``202`` requests in a loop cost the
server a task, a database row and up to three outbound connections apiece, for free. Now accepted
runs still going count against ``limits.maxRuns`` (503) and ``limits.maxRunsPerClient`` (429), and
one past either is refused at once with ``Retry-After``, before anything is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from tests.clients.helpers import agent, backend, client
from tests.clients.test_webhooks import Receiver

W = "/api/v1/webhooks"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    try:
        yield rec
    finally:
        rec.server.stop()


@pytest.mark.parametrize(("limits", "status", "code"), [
    ({"max_runs": 2}, 503, "overloaded"),
    ({"max_runs_per_client": 2}, 429, "too_many_requests"),
])
async def test_accepted_runs_count_against_the_run_limits(
        tmp_path: Path, receiver: Receiver, limits: dict[str, int], status: int, code: str) -> None:
    with FakeServer(OpenAIFake("hook")) as llm:
        async with running_apps(tmp_path / "d", config=limits) as apps:
            aid = await agent(apps, await backend(apps, llm.url))
            c = await client(apps, "webhook", [aid], {"webhook": {"passthrough": True, "allowPrivateCallbacks": True}})
            headers = {"Authorization": f"Bearer {c['token']}"}
            before = len(receiver.calls)
            llm.script(Reply(text="slow 1", delay=3), Reply(text="slow 2", delay=3))

            async def send() -> tuple[int, dict[str, str], dict[str, object]]:
                r = await apps.user.post(f"{W}/{c['id']}", json={"prompt": "go", "callbackUrl": receiver.url},
                                         headers=headers)
                return r.status_code, dict(r.headers), r.json()

            first = [await send(), await send()]
            assert [s for s, _, _ in first] == [202, 202], first
            refused = [await send() for _ in range(5)]
            for s, h, body in refused:
                assert (s, body["code"]) == (status, code) and h["retry-after"] == "1", (s, body)
                assert "maxRuns" in str(body["error"]), body
            # the two accepted runs answer; then (their tasks end right after the callback) there is room again
            calls = await receiver.wait(before + 2)
            assert len(calls) == before + 2  # the refused ones were never run nor called back
            deadline = asyncio.get_running_loop().time() + 10
            while (again := await send())[0] != 202:
                assert asyncio.get_running_loop().time() < deadline, again
                await asyncio.sleep(0.1)
