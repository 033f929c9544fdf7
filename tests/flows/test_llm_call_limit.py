"""A turn that runs past ADK's model-call limit ends with a clean, named error.

ADK stops an invocation after ``RunConfig.max_llm_calls`` (500) model calls by raising its own
``LlmCallsLimitExceededError``; a loop flow with a high ``maxIterations`` (or an agent that keeps
calling tools) reaches it. That must reach the client as magec's ``llm_calls_exceeded`` error
(508, like any runaway loop), not ``internal_error`` / 500.
"""

from __future__ import annotations

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.flows.helpers import A, U, agent, backend, loop, step


async def test_runaway_loop_ends_with_llm_calls_exceeded(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    worker = await agent(apps, await backend(apps, oai, "openai"), "Worker")
    r = await apps.admin.post(f"{A}/flows", json={"name": "runaway", "root": loop(step(worker), max_iterations=1000)})
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    r = await apps.user.post(f"{U}/run", json={"appName": fid, "userId": "u", "sessionId": "s1",
                                               "newMessage": {"role": "user", "parts": [{"text": "go"}]}})
    assert r.status_code == 200, r.text
    errors = [e for e in r.json() if e.get("errorCode")]
    assert [e["errorCode"] for e in errors] == ["llm_calls_exceeded"], errors
    assert "500" in errors[0]["errorMessage"], errors
    r = await apps.user.post("/v1/chat/completions", json={"model": fid, "messages": [{"role": "user", "content": "go"}]})
    # /v1 answers a flow with what its steps said before the failure (500 answers here): never a 500
    assert r.status_code == 200 or (r.status_code == 508 and r.json()["error"]["code"] == "llm_calls_exceeded"), r.text
