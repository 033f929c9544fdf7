"""An agent turn run on the agent itself, without ADK's node runtime.

ADK 2's ``Runner.run_async`` drives a root ``LlmAgent`` through its workflow machinery: a
background task per turn, an event queue between it and the caller, a node scheduler, a node
runner and the LLM-agent-as-node wrapper, each with its telemetry scope. For a plain agent's new
turn none of that does anything: there is nothing to resume, no plugin, no compaction, no
sub-agent to route to, no task to delegate. That machinery costs about as much CPU as the agent's
own turn (with an instant model: ≈ 2.0 ms per turn through the runner, ≈ 1.1 ms on the agent
alone): ~15 % of a whole ``/v1/chat/completions`` request, and ~2 ms of the run API's ~12 ms
stored-session turn (docs/benchmarks.md, profile notes).

Contract of :class:`DirectRunner`: the same ``run_async`` / ``session_service`` surface as ADK's
``Runner`` (what :func:`magec.runtime.run.run_turn` uses), with the same events and the same
stored session, because it does what ADK's node path does for an agent root on a new turn: the
user's message becomes a ``user`` event in the session, the agent runs on a fresh invocation
context whose node path is the root's (``<name>@1``, stamped on the agent's events as ADK's
agent-as-node wrapper does), and every non-partial event it yields is appended to the session
before the agent goes on (its tool loop reads them back). It exists only for apps :func:`eligible`
accepts — a plain ``LlmAgent`` root, no sub-agents, no plugins, no resumability, no compaction,
chat mode — on stored sessions (SQL, Redis) and on
:class:`~magec.agents.ephemeral_sessions.EphemeralSessionService` alike.

One turn is ADK's own on a stored session: a message carrying function responses (a client
tool's result) resumes the invocation whose calls it answers, which only ADK's runner does; it is
handed to that runner. On an ephemeral session such a message is a plain new turn (the calls are
in the request's history, not in the session), as before.

:meth:`DirectRunner.answers` tells which event of a turn it ran itself is the turn's answer: the
agent's reply with no call in it. ADK's flow stops at that event, and nothing a client sees follows
it (the agent has no after-agent callback, and resumability and sub-agents are excluded); what is
left of the turn is bookkeeping (telemetry spans, the flow's end), so an edge may answer then.
The event is in the session already (appended before it is yielded).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.agents.invocation_context import InvocationContext, new_invocation_context_id
from google.adk.agents.run_config import RunConfig
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events import Event
from google.adk.events.event_actions import EventActions
from google.adk.runners import Runner
from google.genai import types

from magec.agents.ephemeral_sessions import EphemeralSessionService
from magec.agents.lean import LeanAgent


def eligible(runner: Runner) -> bool:
    """Whether ``runner``'s new turns are exactly an agent's own run (nothing the node runtime adds)."""
    agent = runner.agent
    return (
        isinstance(agent, LlmAgent)
        and type(agent) in (LlmAgent, LeanAgent)
        and not agent.sub_agents
        and agent.mode in (None, "chat")
        and not runner.plugin_manager.plugins
        and not (runner.resumability_config and runner.resumability_config.is_resumable)
        and not (runner.app is not None and runner.app.events_compaction_config is not None)
    )


class DirectRunner:
    """Runs an agent's new turns on the agent (see the module docstring)."""

    def __init__(self, runner: Runner) -> None:
        assert eligible(runner)
        self._runner = runner
        self.agent: LlmAgent = runner.agent  # type: ignore[assignment]
        self.session_service = runner.session_service
        self._ephemeral = isinstance(runner.session_service, EphemeralSessionService)
        #: ADK's node path of the root agent on a new invocation (stamped on the agent's events)
        self._node_path = f"{self.agent.name}@1"
        #: an after-agent callback may still speak after the reply (ADK yields what it returns)
        self._reply_is_last = self.agent.after_agent_callback is None

    def runs_itself(self, new_message: types.Content) -> bool:
        """Whether the turn of ``new_message`` runs here (else it is handed to ADK's runner)."""
        return self._ephemeral or not any(p.function_response for p in new_message.parts or [])

    def answers(self, event: Event) -> bool:
        """Whether ``event`` (of a turn this runner runs itself) is the turn's last visible event: the
        agent's reply, with no call, no call's result and no code result after which ADK goes on.
        ADK's ``is_final_response`` is broader (a long-running call, whose result still follows)."""
        return (
            self._reply_is_last
            and not event.partial
            and not event.error_code
            and event.author == self.agent.name
            and not event.long_running_tool_ids
            and not event.get_function_calls()
            and not event.get_function_responses()
            and not event.has_trailing_code_execution_result()
        )

    async def run_async(
        self,
        *,
        user_id: str,
        session_id: str,
        new_message: types.Content,
        state_delta: dict[str, Any] | None = None,
        run_config: RunConfig | None = None,
    ) -> AsyncGenerator[Event, None]:
        if not self.runs_itself(new_message):
            # a client tool's result: ADK's runner finds the invocation it answers and resumes it
            async with aclosing(
                self._runner.run_async(
                    user_id=user_id,
                    session_id=session_id,
                    new_message=new_message,
                    state_delta=state_delta,
                    run_config=run_config,
                )
            ) as resumed:
                async for event in resumed:
                    yield event
            return
        svc = self.session_service
        run_config = run_config or RunConfig()
        session = await svc.get_session(
            app_name=self._runner.app_name,
            user_id=user_id,
            session_id=session_id,
            config=run_config.get_session_config,
        )
        if session is None:
            raise SessionNotFoundError(f"Session not found: {session_id}")
        if new_message.role != "user":  # ADK: an inbound message is always the user's turn
            new_message = types.Content(role="user", parts=new_message.parts)
        if any(p.function_call for p in new_message.parts or []):
            raise ValueError("User message cannot contain function calls.")
        r = self._runner
        ctx = InvocationContext(
            artifact_service=r.artifact_service,
            session_service=svc,
            memory_service=r.memory_service,
            credential_service=r.credential_service,
            plugin_manager=r.plugin_manager,
            context_cache_config=r.context_cache_config,
            invocation_id=new_invocation_context_id(),
            agent=self.agent,
            session=session,
            user_content=new_message,
            run_config=run_config,
            node_path=self._node_path,
        )
        user = Event(invocation_id=ctx.invocation_id, author="user", content=new_message)
        if state_delta:
            user.actions = EventActions(state_delta=state_delta)
        await svc.append_event(session=session, event=user)
        async with aclosing(self.agent.run_async(ctx)) as events:
            async for event in events:
                if not event.node_info.path and event.author == self.agent.name:
                    event.node_info.path = self._node_path  # as ADK's agent-as-node wrapper does
                if not event.partial:
                    await svc.append_event(session=session, event=event)
                yield event
                if ctx.is_aborted:
                    break
