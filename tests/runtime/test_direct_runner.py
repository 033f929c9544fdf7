"""An agent turn on :class:`magec.agents.direct.DirectRunner` gives ADK's Runner's events.

Each stateless scenario runs the same agent on the same message twice — ADK's ``LlmAgent`` through
ADK's ``Runner``, and the :class:`~magec.agents.lean.LeanAgent` magec builds through the direct
runner, each on its own :class:`EphemeralSessionService` — and compares what
a client and the agent's next model call can see: the events (author, text, calls, responses, state
deltas, partial / final flags, errors, node path) and the session left behind (events and state).
A stored conversation (ADK's in-memory service, magec's SQLite service) is played through ADK's
runner alone and through the direct runner, whose client-tool answer goes to ADK's runner: every
event of every turn, and the stored session, must be equal field for field. It also checks which
apps get the direct path.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from google.adk.agents import LlmAgent
from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.apps import App as AdkApp
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.plugins.base_plugin import BasePlugin
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.adk.tools.base_tool import BaseTool
from google.genai import types
from sqlalchemy.ext.asyncio import create_async_engine

from magec.agents.direct import DirectRunner, eligible
from magec.agents.ephemeral_sessions import EphemeralSessionService
from magec.agents.lean import LeanAgent
from magec.errors import BackendError
from magec.memory import SqlSessionService, create_memory_tables


class Scripted(BaseLlm):
    """``CALL <tool>`` → that call; a tool result → text naming it; ``FAIL`` → a backend error;
    anything else → two partials (streamed) and ``echo: <text>``."""

    model: str = "scripted"

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        last = llm_request.contents[-1].parts[0]
        if last.function_response is not None:
            yield LlmResponse(
                content=types.Content(
                    role="model", parts=[types.Part(text=f"tool said {last.function_response.response}")]
                )
            )
            return
        text = last.text or ""
        if text.startswith("CALL "):
            call = types.FunctionCall(id="call-1", name=text.split()[1], args={"x": 1})
            yield LlmResponse(content=types.Content(role="model", parts=[types.Part(function_call=call)]))
            return
        if text == "FAIL":
            raise BackendError("the provider is down")
        if stream:
            for piece in ("ec", "ho"):
                yield LlmResponse(
                    content=types.Content(role="model", parts=[types.Part(text=piece)]), partial=True
                )
        yield LlmResponse(
            content=types.Content(role="model", parts=[types.Part(text=f"echo: {text}")]),
            usage_metadata=types.GenerateContentResponseUsageMetadata(
                prompt_token_count=3, candidates_token_count=2
            ),
        )


def add(x: int) -> dict[str, int]:
    """Adds one."""
    return {"sum": x + 1}


class LongRunning(BaseTool):
    """Like magec's ClientTool: offered to the model, answered later by the client."""

    def __init__(self) -> None:
        super().__init__(name="client_tool", description="runs on the client", is_long_running=True)

    def _get_declaration(self) -> types.FunctionDeclaration:
        return types.FunctionDeclaration(
            name="client_tool",
            description="runs on the client",
            parameters=types.Schema(type=types.Type.OBJECT),
        )

    async def run_async(self, *, args: dict[str, Any], tool_context: Any) -> Any:
        return None


def _agent(lean: bool = False, **kw: Any) -> LlmAgent:
    """The scenarios' agent: ADK's own ``LlmAgent``, or the ``LeanAgent`` magec builds."""
    cls = LeanAgent if lean else LlmAgent
    return cls(name="a1", model=Scripted(), instruction="Be brief.", tools=[add, LongRunning()], **kw)


def _shape(e: Any) -> dict[str, Any]:
    return {
        "author": e.author,
        "partial": bool(e.partial),
        "final": e.is_final_response(),
        "parts": [
            (
                p.text,
                p.function_call and (p.function_call.name, p.function_call.args),
                p.function_response and (p.function_response.name, p.function_response.response),
            )
            for p in (e.content.parts if e.content else [])
        ],
        # a partial's actions are the object its final event fills in later: ADK's runner, whose
        # agent runs ahead in its own task, shows them filled; nothing reads a partial's delta
        "state_delta": {} if e.partial else dict(e.actions.state_delta),
        "error": (e.error_code, e.error_message),
        "long_running": sorted(e.long_running_tool_ids or []),
        "node_path": e.node_info.path,
    }


def _config(streaming: bool) -> RunConfig:
    return RunConfig(streaming_mode=StreamingMode.SSE if streaming else StreamingMode.NONE)


#: one RunConfig per streaming flag for every run, as magec.runtime.run shares its own
_SHARED = {streaming: _config(streaming) for streaming in (False, True)}


async def _run(runner: Any, text: str, streaming: bool, state_delta: dict[str, Any] | None = None) -> Any:
    svc = runner.session_service
    session = await svc.create_session(app_name="app", user_id="u")
    events: list[Any] = []
    error: str | None = None
    try:
        async for e in runner.run_async(
            user_id="u",
            session_id=session.id,
            state_delta=state_delta,
            new_message=types.Content(role="user", parts=[types.Part(text=text)]),
            run_config=_SHARED[streaming],
        ):
            events.append(_shape(e))
    except Exception as err:  # noqa: BLE001 - the failure is part of what must match
        error = f"{type(err).__name__}: {err}"
    stored = await svc.get_session(app_name="app", user_id="u", session_id=session.id)
    return events, error, [_shape(e) for e in stored.events], dict(stored.state)


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize(
    ("text", "output_key", "state_delta"),
    [
        ("hello", None, None),
        ("hello", "answer", {"mood": "calm"}),
        ("CALL add", None, None),
        ("CALL client_tool", None, None),
        ("FAIL", None, None),
    ],
    ids=["text", "output_key+state", "server_tool", "client_tool", "model_error"],
)
async def test_same_events_and_session_as_adk_runner(
    text: str, output_key: str | None, state_delta: dict[str, Any] | None, streaming: bool
) -> None:
    def fresh(lean: bool) -> Runner:
        return Runner(
            app_name="app",
            agent=_agent(lean, output_key=output_key),
            session_service=EphemeralSessionService(),
        )

    # ADK's runner on ADK's agent, against magec's path: the direct runner on magec's lean agent
    expected = await _run(fresh(lean=False), text, streaming, state_delta)
    got = await _run(DirectRunner(fresh(lean=True)), text, streaming, state_delta)
    if expected[1] is not None:
        # A failed model call raises in both. ADK's runner yields (and stores) an error event named
        # after the exception just before raising it; run_turn drops that event for its own, so the
        # direct runner does not make it (the ephemeral session is deleted after the turn anyway).
        events, error, stored, state = expected
        expected = (
            [e for e in events if e["error"] == (None, None)],
            error,
            [e for e in stored if e["error"] == (None, None)],
            state,
        )
    assert got == expected
    events, error, stored, _ = got
    assert events or error  # the scenario produced something to compare
    assert stored  # the session holds the turn (the user's message at least)
    if text == "FAIL":
        assert error is not None and "provider is down" in error
    else:
        assert error is None and stored[0]["author"] == "user"
    # neither runner left anything on the shared RunConfig (magec builds one per streaming flag)
    assert _SHARED[streaming].model_dump() == _config(streaming).model_dump()


def _dump(e: Any) -> dict[str, Any]:
    """Everything of an event but what is new on every run (its id, time and invocation id), and a
    partial's state delta (see ``_shape``)."""
    out: dict[str, Any] = e.model_dump(mode="json", exclude_none=True, exclude={"id", "timestamp", "invocation_id"})
    if e.partial:
        out["actions"].pop("state_delta")
    return out


async def _sql_sessions(tmp_path: Path) -> Any:
    tmp_path.mkdir()
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}")
    await create_memory_tables(engine)
    return engine, SqlSessionService(engine)


#: a stored conversation: text, a server tool, a client tool's call and its answer, text again
_CONVERSATION = ["hello", "CALL add", "CALL client_tool", "<answer the client tool>", "bye"]


async def _converse(runner: Any, svc: Any, streaming: bool) -> tuple[list[Any], list[Any], dict[str, Any]]:
    session = await svc.create_session(app_name="app", user_id="u")
    invocations: dict[str, int] = {}  # invocation id -> its order: a resumed turn reuses one

    def dump(e: Any) -> dict[str, Any]:
        return {**_dump(e), "invocation": invocations.setdefault(e.invocation_id, len(invocations))}

    turns: list[Any] = []
    for text in _CONVERSATION:
        if text.startswith("<"):
            stored = await svc.get_session(app_name="app", user_id="u", session_id=session.id)
            call = [e for e in stored.events if e.get_function_calls()][-1].get_function_calls()[0]
            answer = types.FunctionResponse(id=call.id, name=call.name, response={"ok": 1})
            message = types.Content(role="user", parts=[types.Part(function_response=answer)])
        else:
            message = types.Content(role="user", parts=[types.Part(text=text)])
        turns.append(
            [
                dump(e)
                async for e in runner.run_async(
                    user_id="u", session_id=session.id, new_message=message, run_config=_SHARED[streaming]
                )
            ]
        )
    stored = await svc.get_session(app_name="app", user_id="u", session_id=session.id)
    return turns, [dump(e) for e in stored.events], dict(stored.state)


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("store", ["adk-memory", "sqlite"])
async def test_stored_conversation_same_as_adk_runner(store: str, streaming: bool, tmp_path: Path) -> None:
    async def play(direct: bool) -> Any:
        engine = None
        if store == "sqlite":
            engine, svc = await _sql_sessions(tmp_path / ("direct" if direct else "adk"))
        else:
            svc = InMemorySessionService()
        runner = Runner(app_name="app", agent=_agent(direct, output_key="answer"), session_service=svc)
        try:
            return await _converse(DirectRunner(runner) if direct else runner, svc, streaming)
        finally:
            if engine is not None:
                await svc.close()
                await engine.dispose()

    expected = await play(direct=False)
    got = await play(direct=True)
    assert got == expected
    turns, stored, state = got
    # the scenario did what it says: the client tool's call, then its answer resumed that invocation
    assert any(e.get("long_running_tool_ids") == ["call-1"] for e in turns[2])
    assert {e["invocation"] for e in turns[3]} == {turns[2][-1]["invocation"]}
    assert turns[3][-1]["content"]["parts"][0]["text"] == "tool said {'ok': 1}"
    assert turns[4][-1]["content"]["parts"][0]["text"] == "echo: bye"
    assert state["answer"] == "echo: bye"
    # every agent event carries the root's node path, as ADK's runner stamps it
    assert {e["node_info"]["path"] for e in stored if e["author"] == "a1"} == {"a1@1"}


def test_only_a_plain_agent_runs_direct() -> None:
    ephemeral = EphemeralSessionService()
    assert eligible(Runner(app_name="app", agent=_agent(), session_service=ephemeral))
    assert eligible(Runner(app_name="app", agent=_agent(lean=True), session_service=ephemeral))
    # stored sessions too (a client tool's answer is resumed by ADK's runner: see above)
    assert eligible(Runner(app_name="app", agent=_agent(), session_service=InMemorySessionService()))
    # sub-agents are routed by the node runtime
    parent = LlmAgent(name="parent", model=Scripted(), sub_agents=[_agent()])
    assert not eligible(Runner(app_name="app", agent=parent, session_service=ephemeral))
    # plugins see the run's callbacks only through ADK's runner

    class Seen(BasePlugin):
        pass

    app = AdkApp(name="app", root_agent=_agent(), plugins=[Seen(name="seen")])
    assert not eligible(Runner(app=app, session_service=ephemeral))
