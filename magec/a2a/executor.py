"""The a2a-sdk ``AgentExecutor`` of magec: one A2A task = one magec turn.

Why our own executor and not ADK's ``A2aAgentExecutor``: ADK's runs ``Runner.run_async`` directly,
which would bypass what every other surface gets from :func:`magec.runtime.run.run_turn` — the
per-session turn queue and stale-session retry, redacted errors in magec's one error vocabulary
(``errorCode`` / ``rate_limit`` …), flow visibility (only response agents speak), and whatever hooks
the turn path carries (usage, audit, budgets). So the turn goes through ``run_turn`` exactly as on
``/api/v1/agent/run``, and ADK's A2A *converters* do the protocol mapping both ways (A2A parts →
``genai`` content, ADK events → ``TaskArtifactUpdateEvent``), so the wire format is ADK's own and
ADK's ``RemoteA2aAgent`` reads it as it reads an ADK server.

Identity and sessions: the route authenticated the client token and checked ``allowedAgents``
before the request reached a2a-sdk; it hands the :class:`Turn` (runtime, app, user, streaming)
through a2a-sdk's ``ServerCallContext.state``. The A2A ``contextId`` is the magec session id, and
the session's user is ``a2a`` in the caller's namespace (``<clientId>:a2a``, :meth:`Caller.owner_key`),
so a client's A2A conversations are its own sessions, visible to it on the session API.

Task lifecycle: ``submitted`` (new task) → ``working`` → artifact updates (token deltas when the
request was ``message/stream``, one artifact per answering agent) → ``completed``; a failed turn
ends ``failed`` with the redacted error text and ``errorCode`` in the message metadata (and
``retryAfter``, the seconds to wait, when the failure says it: a provider's rate limit, an open
circuit breaker). A follow-up message to the running task (its ``taskId``) is one more turn of it,
after the running one: the task ends with its last turn (:class:`TurnExecutor`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import a2a_pb2 as pb
from google.adk.a2a.converters.from_adk_event import convert_event_to_a2a_events
from google.adk.a2a.converters.request_converter import convert_a2a_request_to_agent_run_request
from google.adk.events import Event, EventActions
from google.genai import types

from magec.agents.apps import App
from magec.audit.context import attributed
from magec.errors import MagecError
from magec.runtime.build import Runtime
from magec.runtime.run import ensure_session, run_turn

if TYPE_CHECKING:
    from magec.a2a.service import BoundedTaskStore

STATE_KEY = "magec_turn"
#: an A2A task in one of these states never changes again
_ENDED = frozenset({pb.TaskState.TASK_STATE_COMPLETED, pb.TaskState.TASK_STATE_FAILED,
                    pb.TaskState.TASK_STATE_CANCELED, pb.TaskState.TASK_STATE_REJECTED})
#: the audit's surface name of A2A turns (:mod:`magec.audit.context`)
SURFACE = "a2a"


@dataclass(frozen=True)
class Turn:
    """What the route resolved for one JSON-RPC request (handed to the executor)."""

    runtime: Runtime
    app: App
    #: the stored ADK user id: ``a2a`` in the caller's namespace (``Caller.owner_key(A2A_USER)``)
    user_id: str
    #: the client the token belongs to (None in open mode): tasks are scoped by it
    client_id: str | None
    streaming: bool


def _text_message(text: str, metadata: dict[str, Any] | None = None) -> pb.Message:
    msg = pb.Message(message_id=str(uuid.uuid4()), role=pb.Role.ROLE_AGENT, parts=[pb.Part(text=text)])
    if metadata:
        msg.metadata.update(metadata)
    return msg


def _for_peer(event: Event) -> Event | None:
    """What the peer sees of an event: the answer (text, files) as an end user of ``/v1`` sees it.
    Tool calls and results, thoughts and state deltas (flow state, ``outputKey`` values) stay
    inside magec; an event with nothing else is not sent."""
    content = event.content
    if content is None or not content.parts:
        return None
    parts = [p for p in content.parts if (p.text and not p.thought) or p.inline_data or p.file_data]
    if not parts:
        return None
    return event.model_copy(update={"actions": EventActions(), "content": types.Content(role=content.role, parts=parts)})


async def _unless(stop: asyncio.Event, work: Coroutine[Any, Any, bool]) -> bool | None:
    """``work``'s result, or None once ``stop`` is set first (``work`` is then cancelled)."""
    running = asyncio.ensure_future(work)
    waiting = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((running, waiting), return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this task itself is cancelled (a cancel made here, through a2a-sdk)
        waiting.cancel()
        if not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    return running.result() if not running.cancelled() else None


class _Hold:
    """One turn's place among the turns of its task (:attr:`TurnExecutor.turns`), given back once."""

    def __init__(self, turns: Counter[str], task_id: str) -> None:
        self.turns = turns
        self.task_id = task_id
        self.held = True

    def release(self) -> bool:
        """Give the place back; True when no other turn of the task is left (this one ends it)."""
        if not self.held:
            return False
        self.held = False
        if self.task_id not in self.turns:  # the task ended (failed, cancelled): nothing is left
            return False
        self.turns[self.task_id] -= 1
        if self.turns[self.task_id] > 0:
            return False
        del self.turns[self.task_id]
        return True


class TurnExecutor(AgentExecutor):
    """One A2A message = one turn; a task ends when its last turn ended. ``tasks``: the task store,
    which tells a running turn that its task was cancelled elsewhere
    (:meth:`BoundedTaskStore.cancel_signal`).

    A follow-up message to a task running here (its ``taskId``; A2A lets an agent accept messages
    for a task that has not ended) is taken by the request handler (:class:`magec.a2a.service._Handler`),
    which counts it in :attr:`turns` and queues it behind the running turn (a2a-sdk runs a task's
    requests one after another): a turn that
    ends while another waits leaves the task ``working`` and the next one continues it, on the same
    conversation, so the task ends once, when the last turn ended. (Completed under the waiting
    message, the task was ended when its turn ran: that turn was stopped and the task read
    ``working`` then ``canceled`` after ``completed``, the follow-up's answer lost.)"""

    def __init__(self, tasks: BoundedTaskStore | None = None) -> None:
        self.tasks = tasks
        #: task id -> how many of its turns run in this process (a resubscription taps them here)
        self.running: Counter[str] = Counter()
        #: task id -> its turns accepted here and not ended (the running one and those waiting):
        #: the task ends with the last. The decision and a follow-up's acceptance read and change
        #: it with no await in between, so a message is never queued behind a turn that ends the task
        self.turns: Counter[str] = Counter()

    def accept(self, task_id: str) -> bool:
        """Count a follow-up message's turn for ``task_id``; False: no turn of it is running or
        waiting here (it ended, or it runs in another process), the message cannot join it."""
        if not self.turns[task_id]:
            del self.turns[task_id]
            return False
        self.turns[task_id] += 1
        return True

    def drop(self, task_id: str) -> None:
        """``task_id`` ended before its waiting turns ran (failed, cancelled): a2a-sdk drops them."""
        self.turns.pop(task_id, None)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id = context.task_id or ""
        current = context.current_task
        if current is not None and current.status.state in _ENDED:
            # a message queued behind a turn that failed or was cancelled: the task has ended
            # (a2a-sdk answers its sender the task as it ended); it is not run
            return
        if context.current_task is None:  # a new task: its first turn (follow-ups were counted)
            self.turns[task_id] += 1
        hold = _Hold(self.turns, task_id)
        self.running[task_id] += 1
        try:
            await self._execute(context, event_queue, hold)
        finally:
            hold.release()
            self.running[task_id] -= 1
            if not self.running[task_id]:
                del self.running[task_id]
                if self.tasks is not None:  # the last turn of the task here: nothing watches its cancel
                    self.tasks.forget_signal(task_id)

    async def _execute(self, context: RequestContext, event_queue: EventQueue, hold: _Hold) -> None:
        turn: Turn = context.call_context.state[STATE_KEY]
        task_id, context_id = context.task_id or "", context.context_id or ""
        updater = TaskUpdater(event_queue, task_id, context_id)
        if context.current_task is None:
            assert context.message is not None
            await event_queue.enqueue_event(pb.Task(
                id=task_id, context_id=context_id, history=[context.message],
                status=pb.TaskStatus(state=pb.TaskState.TASK_STATE_SUBMITTED)))
        await updater.start_work()
        try:
            request = convert_a2a_request_to_agent_run_request(context)
            if request.new_message is None or not request.new_message.parts:
                raise ValueError("message.parts: at least one part with content is required")
            new_message = request.new_message
            user_id = turn.user_id
            session_id = await ensure_session(turn.runtime, turn.app, user_id, context_id)
        except Exception as e:  # noqa: BLE001 - a bad request part or session id fails the task, named
            self.drop(task_id)
            await updater.failed(_text_message(str(e).splitlines()[0] if str(e) else "invalid request",
                                               {"errorCode": "validation_error"}))
            return
        owner = context.call_context.user.user_name
        stop = self.tasks.cancel_signal(task_id, owner) if self.tasks is not None else None
        with attributed(SURFACE):  # the conversation audit records the turn as an A2A one
            relay = self._relay(turn, user_id, session_id, new_message, updater, event_queue, task_id, context_id)
            ended = await relay if stop is None else await _unless(stop, relay)
        if ended is None:
            # cancelled through another replica: the turn is stopped here too, and the task says
            # so (its row already does: this write keeps it)
            self.drop(task_id)
            await updater.cancel()
            return
        if ended and hold.release():  # else a follow-up message waits: its turn continues the task
            await updater.complete()

    async def _relay(self, turn: Turn, user_id: str, session_id: str, new_message: types.Content,
                     updater: TaskUpdater, event_queue: EventQueue, task_id: str, context_id: str) -> bool:
        """Run the turn, relaying what the peer sees; False when it failed (the task says why)."""
        artifacts: dict[str, str] = {}
        async for ev in run_turn(turn.runtime, turn.app, user_id, session_id, new_message, streaming=turn.streaming):
            if ev.error_code or ev.error_message or ev.event is None:
                text = ev.error_message or ev.error_code or "turn failed"
                meta: dict[str, Any] = {"errorCode": ev.error_code or MagecError.code}
                if ev.retry_after is not None:  # a rate limit, an open breaker: when to send it again
                    meta["retryAfter"] = ev.retry_after
                self.drop(task_id)
                await updater.failed(_text_message(text, meta))
                return False
            if ev.is_user or not ev.visible:
                continue
            event = _for_peer(ev.event)
            if event is None:
                continue
            for a2a_event in convert_event_to_a2a_events(event, artifacts, task_id, context_id):
                await event_queue.enqueue_event(a2a_event)
        return True

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        # a2a-sdk cancels the task running execute() (and with it run_turn's stream) after this
        self.drop(context.task_id or "")
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()
