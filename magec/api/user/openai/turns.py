"""One OpenAI-surface turn on an agent: resolve the model, prepare the session, run with overrides.

Contract: :func:`resolve` answers the app a client named as ``model`` (id or name) — 404
``model_not_found`` naming ``model`` for an unknown app *and* for one this client may not use (as
OpenAI does for models outside a project), 503 for an invalid one. :class:`Conversation` holds
where the turn runs: a stored session (``X-Session-Id`` / ``previous_response_id``) or a fresh
in-memory one seeded with the client's history (stateless: nothing stored, forgotten after the
turn). :meth:`Conversation.run` yields the turn's :class:`~magec.runtime.run.TurnEvent` with the
request's :class:`~magec.agents.request_overrides.Overrides` applied to every model call.
Helpers read the answer off the events: text, client tool calls, finish reason, usage.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.genai import types
from starlette.requests import Request

from magec import heap
from magec.agents.apps import App
from magec.agents.ephemeral_sessions import EphemeralSessionService
from magec.agents.request_overrides import Overrides, applied
from magec.api.clients import Caller, authenticate
from magec.api.limits import answer_while_connected
from magec.api.user.openai.messages import Turn, history_events, name_calls, seed
from magec.api.user.openai.model_ids import find_model, unknown_model
from magec.audit.context import attributed
from magec.context import AppContext
from magec.errors import (
    FlowRunawayError,
    LlmCallsExceededError,
    require_string,
)
from magec.runtime.build import Runtime
from magec.runtime.run import TurnEvent, ensure_session, require_app, run_turn


async def fresh_caller(ctx: AppContext, request: Request) -> tuple[Runtime, Caller]:
    """The runtime as of every committed write, and the request's authenticated caller."""
    assert ctx.runtime is not None
    rt = await ctx.runtime.fresh()
    return rt, authenticate(request, rt)


def model_field(model: Any) -> str:
    """The request's ``model`` as a non-empty string; else a 400 naming ``model``."""
    return require_string(model, "model", "an agent or flow id or name")


def resolve(rt: Runtime, caller: Caller, model: Any) -> App:
    model = model_field(model)
    found = find_model(rt, caller.may_use, model)
    if found is None or not caller.may_use(found.id):
        raise unknown_model(model, caller)
    return require_app(rt, found.id)


def end_user(body: dict[str, Any]) -> str:
    """The request's ``user`` (the end user whose sessions these are; ``openai`` when absent).
    OpenAI takes only a string: anything else is a 400 naming ``user`` — it was read as its Python
    text (``{'id': 1}``), so the client's conversations landed under an id it never chose."""
    value = body.get("user")
    if value is None or value == "":
        return "openai"
    return require_string(value, "user", "the end user's id")


def model_name(app: App) -> str:
    """``model`` in answers: the agent's (or flow's) name, as clients name it."""
    return app.name or app.id


@dataclass
class Conversation:
    rt: Runtime
    app: App
    user: str
    sid: str
    runner: Any = None  # the ephemeral runner of a stateless call, else None (the app's own)
    #: the route, for the conversation audit (``responses`` sets its own)
    surface: str = "chat.completions"
    #: a stateless agent call's history, given to the model calls directly (Overrides.history)
    history: list[types.Content] | None = None

    @classmethod
    async def open(
        cls, rt: Runtime, app: App, user: str, session_id: str | None, turn: Turn, *, store: bool = False
    ) -> Conversation:
        """``session_id``: continue that stored session (created when new); else ``store``: a new
        stored session seeded with the client's history; else an in-memory one."""
        if session_id:
            heap.let_go(turn.history)  # the stored session is the history: the client's copy goes
            sid = await ensure_session(rt, app, user, session_id)
            if turn.unnamed:
                session = await rt.session_service.get_session(app_name=app.id, user_id=user, session_id=sid)
                name_calls(turn, list(session.events) if session is not None else [])
            return cls(rt, app, user, sid)
        if store:
            sid = await ensure_session(rt, app, user, None)
            if turn.unnamed:
                name_calls(turn, [])
            await seed(rt.session_service, app, user, sid, turn.history)
            heap.let_go(turn.history)  # stored now: the list (and its collector deferral) ends
            return cls(rt, app, user, sid)
        runner = app.ephemeral_runner()
        if turn.unnamed:
            name_calls(turn, [])
        svc = runner.session_service
        assert isinstance(svc, EphemeralSessionService)
        if app.kind == "agent" and not any(p.function_response for p in turn.new_message.parts or []):
            # An agent's history goes straight into its model requests (Overrides.history): no
            # session events, so ADK neither validates nor deep-copies each message per model call.
            created = await svc.create_session(app_name=app.id, user_id=user)
            return cls(rt, app, user, created.id, app.direct_runner(), history=turn.history)
        # A flow's agents see the history as session events (attributed, as ADK shows other
        # authors), and a client tool's answer needs its call among them: one linear step.
        created = await svc.create_session(app_name=app.id, user_id=user, events=history_events(app, turn.history))
        heap.let_go(turn.history)  # its messages live on in the session's events
        return cls(rt, app, user, created.id, runner)

    async def run(
        self, message: types.Content, overrides: Overrides, *, streaming: bool
    ) -> AsyncGenerator[TurnEvent, None]:
        if self.history:
            overrides.history = self.history
        with applied(overrides), attributed(self.surface):
            turn = run_turn(self.rt, self.app, self.user, self.sid, message, streaming=streaming, runner=self.runner)
            try:
                async for event in turn:
                    yield event
            finally:
                await turn.aclose()

    async def complete(
        self, request: Request, message: types.Content, overrides: Overrides
    ) -> tuple[list[TurnEvent], Callable[[], Awaitable[None]]]:
        """The non-streamed turn up to its answer (:func:`magec.runtime.run.answer`), and what is
        left to do once the answer is sent: the rest of the turn, then forgetting the conversation
        (a stateless call leaves nothing behind). A client that hangs up cancels the turn (and its
        provider calls)."""
        try:
            got = await answer_while_connected(request, self.run(message, overrides, streaming=False))
        except BaseException:
            await self.forget()
            raise

        async def rest() -> None:
            await got.rest()
            await self.forget()

        return got.events, rest

    async def forget(self) -> None:
        if self.runner is not None:
            await self.runner.session_service.delete_session(
                app_name=self.app.id, user_id=self.user, session_id=self.sid
            )


#: failures that void what the turn said before them: a flow stopped by ADK's model-call limit or
#: by a router's runaway cap said its loop's output so far, which is no answer (the stream ends with
#: the error after it too)
VOIDING = frozenset({LlmCallsExceededError.code, FlowRunawayError.code})


def failed_answer(events: list[TurnEvent], produced: bool) -> TurnEvent | None:
    """The error event a whole (not streamed) answer is, or None when the answer is what the turn
    ``produced`` (text, client tool calls): a :data:`VOIDING` failure whatever came before it;
    any other failure only when the turn produced nothing (a flow answers what its steps said)."""
    failed = [e for e in events if e.error_code]
    voiding = [e for e in failed if e.error_code in VOIDING]
    if voiding:
        return voiding[-1]
    return failed[-1] if failed and not produced else None


def text_of(events: list[TurnEvent]) -> str:
    """Final text of the turn: response agents' output, joined with ``\\n---\\n`` for flows."""
    chunks = [e.text for e in events if not e.partial and e.visible and not e.is_user]
    return "\n---\n".join(c for c in chunks if c)


def client_calls(events: list[TurnEvent], names: set[str]) -> list[types.FunctionCall]:
    """The calls of client tools the model made (they ended the turn)."""
    out: list[types.FunctionCall] = []
    if not names:
        return out
    for e in events:
        if e.event is None or e.partial or e.is_user:
            continue
        out.extend(fc for fc in e.event.get_function_calls() if fc.name in names)
    return out


def server_tool_events(events: list[TurnEvent], client_names: set[str]) -> list[dict[str, Any]]:
    """The agent-side tool calls of the turn with their results (the opt-in ``magec_tool_events``
    extension): ``[{"id", "name", "arguments", "result"}]`` in call order."""
    calls: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.event is None or e.partial:
            continue
        for fc in e.event.get_function_calls():
            if fc.name not in client_names:
                key = fc.id or f"call_{len(calls)}"
                calls[key] = {"id": key, "name": fc.name, "arguments": json.dumps(fc.args or {}, ensure_ascii=False),
                              "result": None}
        for fr in e.event.get_function_responses():
            if fr.id in calls:
                calls[fr.id]["result"] = fr.response
    return list(calls.values())


def tool_calls_json(calls: list[types.FunctionCall]) -> list[dict[str, Any]]:
    return [
        {
            "id": fc.id or f"call_{i}",
            "type": "function",
            "function": {"name": fc.name, "arguments": json.dumps(fc.args or {}, ensure_ascii=False)},
        }
        for i, fc in enumerate(calls)
    ]


def finish_reason(events: list[TurnEvent], calls: list[types.FunctionCall]) -> str:
    if calls:
        return "tool_calls"
    for e in reversed(events):
        if e.event is not None and not e.partial and not e.is_user and e.event.finish_reason is not None:
            return "length" if e.event.finish_reason == types.FinishReason.MAX_TOKENS else "stop"
    return "stop"


def usage(events: list[TurnEvent]) -> tuple[int, int]:
    prompt = completion = 0
    for e in events:
        meta = e.usage
        if meta is not None and not e.partial:
            prompt += int(meta.prompt_token_count or 0)
            completion += int(meta.candidates_token_count or 0)
    return prompt, completion
