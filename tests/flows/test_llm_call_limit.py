"""A turn that runs past ADK's model-call limit ends with a clean, named error.

ADK stops an invocation after ``RunConfig.max_llm_calls`` (500) model calls by raising its own
``LlmCallsLimitExceededError``; a loop flow with a high ``maxIterations`` (or an agent that keeps
calling tools) reaches it. That must reach the client as magec's ``llm_calls_exceeded`` error
(508, like any runaway loop), not ``internal_error`` / 500.
"""

from __future__ import annotations

import json

import pytest

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
    # the steps' 500 answers are no answer: the named error, as the stream ends with
    assert r.status_code == 508 and r.json()["error"]["code"] == "llm_calls_exceeded", r.text


async def test_whole_v1_answers_of_a_flow_stopped_by_the_limit_are_the_error(
    sqlite_apps: Apps, oai: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flow stopped by the model-call limit had said its loop's output so far: a streamed
    ``/v1`` answer ends with ``llm_calls_exceeded`` after it, but the whole answer of
    ``/v1/chat/completions`` and ``/v1/responses`` was a 200 holding that output as if it were the
    answer. Now every ``/v1`` shape is the error (a lower limit, so the loop stops at once)."""
    from magec.runtime import run

    limited = {k: v.model_copy(update={"max_llm_calls": 3}) for k, v in run._RUN_CONFIGS.items()}
    monkeypatch.setattr(run, "_RUN_CONFIGS", limited)
    apps = sqlite_apps
    worker = await agent(apps, await backend(apps, oai, "openai"), "Worker")
    r = await apps.admin.post(f"{A}/flows", json={"name": "runaway", "root": loop(step(worker), max_iterations=10)})
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    chat = {"model": fid, "messages": [{"role": "user", "content": "go"}]}

    r = await apps.user.post("/v1/chat/completions", json=chat)
    assert r.status_code == 508 and r.json()["error"]["code"] == "llm_calls_exceeded", r.text
    r = await apps.user.post("/v1/responses", json={"model": fid, "input": "go"})
    assert r.status_code == 508 and r.json()["error"]["code"] == "llm_calls_exceeded", r.text
    # streamed, the output goes first and the error ends the stream (as before)
    r = await apps.user.post("/v1/chat/completions", json={**chat, "stream": True})
    chunks = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    assert r.status_code == 200 and "oai-reply" in r.text, r.text
    assert chunks[-1]["error"]["code"] == "llm_calls_exceeded", r.text
    r = await apps.user.post("/v1/responses", json={"model": fid, "input": "go", "stream": True})
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert "oai-reply" in r.text and events[-1]["type"] == "response.failed", r.text  # it was response.completed
    assert events[-1]["response"]["error"]["code"] == "llm_calls_exceeded", r.text
