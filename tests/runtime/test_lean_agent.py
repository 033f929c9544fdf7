""":class:`magec.agents.lean.LeanAgent` is ADK's ``LlmAgent`` minus the telemetry nobody records.

Every scenario runs twice through ADK's own ``Runner`` — once on ``LlmAgent``, once on
``LeanAgent`` — and compares the events, the stored session and the requests the model saw:
text, streamed text, a server tool, a client (long-running) tool, a model failure, each kind of
callback (before/after agent, before/after model, on model error, a before-model callback that
answers instead of the model, a plugin), and ADK's limit on model calls per turn. A cancelled turn
runs the after-agent callback on both. The lean path is checked to be taken (no ADK telemetry
scope on the model call's stack) while no OpenTelemetry provider is installed, and, in a child
process that installs one mid-run, ADK's spans are recorded from the next turn on.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import textwrap
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from google.adk.agents import LlmAgent
from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.apps import App as AdkApp
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.plugins.base_plugin import BasePlugin
from google.adk.runners import Runner
from google.genai import types

from magec.agents.ephemeral_sessions import EphemeralSessionService
from magec.agents.lean import LeanAgent, telemetry_recorded
from tests.runtime.test_direct_runner import LongRunning, add
from tests.runtime.test_direct_runner import Scripted as Echo

#: ADK's telemetry scopes, as frames on a model call's stack (google/adk/telemetry, core/_finalizer)
_SCOPES = {"_call_llm_with_tracing", "_record_responses", "stream_in_scope", "_drive"}


def _text(t: str, **kw: Any) -> LlmResponse:
    return LlmResponse(content=types.Content(role="model", parts=[types.Part(text=t)]), **kw)


class Scripted(Echo):
    """test_direct_runner's model (``CALL <tool>``, ``FAIL``, echo), and ``SLOW`` sets ``started``
    and waits on ``gate``.
    Keeps each request (as JSON) and the names of the functions on its stack when called."""

    seen: list[dict[str, Any]] = []
    stacks: list[set[str]] = []
    gate: Any = None
    started: Any = None

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.seen.append(llm_request.model_dump(mode="json", exclude={"tools_dict", "live_connect_config"}))
        self.stacks.append({f.function for f in inspect.stack()})
        if llm_request.contents[-1].parts[0].text == "SLOW":
            self.started.set()
            await self.gate.wait()
        async for response in super().generate_content_async(llm_request, stream):
            yield response


class Noting(BasePlugin):
    """A plugin that notes the agent and model hooks it sees, and signs off the agent's turn."""

    def __init__(self, log: list[str]) -> None:
        super().__init__(name="noting")
        self.log = log

    async def before_agent_callback(self, **kw: Any) -> None:
        self.log.append("plugin before_agent")

    async def before_model_callback(self, **kw: Any) -> None:
        self.log.append("plugin before_model")

    async def after_agent_callback(self, **kw: Any) -> types.Content:
        self.log.append("plugin after_agent")
        return types.Content(role="model", parts=[types.Part(text="signed off")])


def _callbacks(kind: str, log: list[str]) -> dict[str, Any]:
    """The agent's callbacks for one scenario; each notes itself in ``log``."""

    def note(name: str, answer: Any = None) -> Any:
        def callback(*args: Any, **kwargs: Any) -> Any:
            log.append(name)
            return answer

        return callback

    if kind == "all":
        return {
            "before_agent_callback": note("before_agent"),
            "after_agent_callback": note("after_agent"),
            "before_model_callback": note("before_model"),
            "after_model_callback": note("after_model"),
        }
    if kind == "model_replaced":
        return {"before_model_callback": note("before_model", _text("from the callback"))}
    if kind == "answer_altered":
        return {"after_model_callback": note("after_model", _text("altered"))}
    if kind == "error_answered":
        return {"on_model_error_callback": note("on_model_error", _text("recovered"))}
    if kind == "agent_closed":
        return {"after_agent_callback": note("after_agent", types.Content(role="model", parts=[types.Part(text="bye")]))}
    if kind == "agent_opened":
        return {"before_agent_callback": note("before_agent", types.Content(role="model", parts=[types.Part(text="hi")]))}
    return {}


def _agent(cls: type[LlmAgent], kind: str, log: list[str], model: Scripted) -> LlmAgent:
    return cls(
        name="a1",
        model=model,
        instruction="Be brief.",
        tools=[add, LongRunning()],
        output_key="answer",
        **_callbacks(kind, log),
    )


def _shape(e: Any) -> dict[str, Any]:
    out: dict[str, Any] = e.model_dump(mode="json", exclude_none=True, exclude={"id", "timestamp", "invocation_id"})
    if e.partial:  # a partial's actions are filled in by its final event later
        out["actions"].pop("state_delta", None)
    return out


async def _play(cls: type[LlmAgent], kind: str, text: str, streaming: bool) -> dict[str, Any]:
    log: list[str] = []
    model = Scripted(seen=[], stacks=[])
    svc = EphemeralSessionService()
    agent = _agent(cls, kind, log, model)
    if kind == "plugin":
        app = AdkApp(name="app", root_agent=agent, plugins=[Noting(log)])
        runner = Runner(app=app, session_service=svc)
    else:
        runner = Runner(app_name="app", agent=agent, session_service=svc)
    session = await svc.create_session(app_name="app", user_id="u")
    config = RunConfig(
        streaming_mode=StreamingMode.SSE if streaming else StreamingMode.NONE,
        max_llm_calls=1 if kind == "one_call" else 500,  # ADK's limit on model calls per turn
    )
    events: list[Any] = []
    error = None
    try:
        async for e in runner.run_async(
            user_id="u",
            session_id=session.id,
            new_message=types.Content(role="user", parts=[types.Part(text=text)]),
            run_config=config,
        ):
            events.append(_shape(e))
    except Exception as err:  # noqa: BLE001 - the failure is part of what must match
        error = f"{type(err).__name__}: {err}"
    stored = await svc.get_session(app_name="app", user_id="u", session_id=session.id)
    assert stored is not None
    return {
        "events": events,
        "error": error,
        "stored": [_shape(e) for e in stored.events],
        "state": dict(stored.state),
        "requests": model.seen,
        "callbacks": log,
        "stacks": model.stacks,
    }


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("none", "hello"),
        ("none", "CALL add"),
        ("none", "CALL client_tool"),
        ("none", "FAIL"),
        ("all", "hello"),
        ("all", "CALL add"),
        ("model_replaced", "hello"),
        ("answer_altered", "hello"),
        ("error_answered", "FAIL"),
        ("agent_opened", "hello"),
        ("agent_closed", "hello"),
        ("plugin", "hello"),
        ("one_call", "CALL add"),
    ],
)
async def test_same_turn_as_adk_agent(kind: str, text: str, streaming: bool) -> None:
    assert not telemetry_recorded()  # the test process installs no OpenTelemetry provider
    expected = await _play(LlmAgent, kind, text, streaming)
    got = await _play(LeanAgent, kind, text, streaming)
    adk_stacks, lean_stacks = expected.pop("stacks"), got.pop("stacks")
    assert got == expected
    # the scenario did something
    assert got["events"] or got["error"]
    if kind == "plugin":
        assert got["callbacks"] == ["plugin before_agent", "plugin before_model", "plugin after_agent"]
    if kind in ("plugin", "agent_closed"):  # the agent's last word is the callback's
        assert got["events"][-1]["content"]["parts"][0]["text"] in ("signed off", "bye")
    if kind == "one_call":  # the tool's result would need a second model call
        assert got["error"] is not None and "LlmCallsLimitExceeded" in got["error"]
    if kind == "all":
        assert got["callbacks"][0] == "before_agent" and got["callbacks"][-1] == "after_agent"
        assert "before_model" in got["callbacks"] and "after_model" in got["callbacks"]
    # the model ran under ADK's telemetry scopes on ADK's agent, and under none on the lean one;
    # a call with an on-model-error callback takes ADK's path on both
    for adk, lean in zip(adk_stacks, lean_stacks, strict=True):
        assert _SCOPES <= adk
        if kind in ("error_answered", "plugin"):  # a plugin may answer a model error
            assert _SCOPES <= lean
        else:
            assert not (_SCOPES & lean)
    assert len(lean_stacks) == (0 if kind in ("model_replaced", "agent_opened") else len(got["requests"]))


@pytest.mark.parametrize("cls", [LlmAgent, LeanAgent], ids=["adk", "lean"])
async def test_cancelled_turn_runs_after_agent_callback(cls: type[LlmAgent]) -> None:
    log: list[str] = []
    model = Scripted(seen=[], stacks=[], gate=asyncio.Event(), started=asyncio.Event())
    svc = EphemeralSessionService()
    runner = Runner(app_name="app", agent=_agent(cls, "all", log, model), session_service=svc)
    session = await svc.create_session(app_name="app", user_id="u")

    async def turn() -> None:
        async for _ in runner.run_async(
            user_id="u", session_id=session.id, new_message=types.Content(role="user", parts=[types.Part(text="SLOW")])
        ):
            pass

    task = asyncio.create_task(turn())
    await model.started.wait()  # the model call has started and waits on the gate
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["before_agent", "before_model", "after_agent"]


def test_adk_telemetry_recorded_once_a_provider_is_installed() -> None:
    """In a child process (a provider is process-wide and cannot be removed): a turn before the
    provider is installed records nothing; after, ADK's agent and model-call spans are there."""
    script = textwrap.dedent(
        """
        import asyncio
        from google.adk.runners import Runner
        from google.genai import types
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from magec.agents.ephemeral_sessions import EphemeralSessionService
        from magec.agents.lean import LeanAgent, telemetry_recorded
        from tests.runtime.test_lean_agent import Scripted

        async def turn():
            svc = EphemeralSessionService()
            runner = Runner(app_name="app", agent=LeanAgent(name="a1", model=Scripted(seen=[], stacks=[])),
                            session_service=svc)
            s = await svc.create_session(app_name="app", user_id="u")
            msg = types.Content(role="user", parts=[types.Part(text="hello")])
            return [e async for e in runner.run_async(user_id="u", session_id=s.id, new_message=msg)]

        async def main():
            exporter = InMemorySpanExporter()
            assert not telemetry_recorded()
            await turn()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(provider)
            assert telemetry_recorded()
            events = await turn()
            assert events[-1].content.parts[0].text == "echo: hello", events
            print(sorted({s.name for s in exporter.get_finished_spans()}))

        asyncio.run(main())
        """
    )
    root = Path(__file__).resolve().parents[2]  # the script imports this module as tests.runtime...
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    names = done.stdout.strip()
    assert "invoke_agent a1" in names, names
    assert "call_llm" in names or "generate_content scripted" in names, names
