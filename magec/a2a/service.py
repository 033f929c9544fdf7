"""The process's A2A JSON-RPC machinery: a2a-sdk's dispatcher and request handler, one each.

Every app shares them: the route (:mod:`magec.api.user.a2a`) resolves the app and the caller, puts
a :class:`~magec.a2a.executor.Turn` on the request, and a2a-sdk does the protocol — JSON-RPC
parsing and errors, ``message/send`` / ``message/stream`` (SSE) / ``tasks/get`` / ``tasks/cancel``
(A2A 0.3 method names, as Magec and most clients send them) and their 1.0 names (``SendMessage`` …).
A resubscription to a task running in another process follows its stored copy, and a follow-up
message to a running task joins it (:class:`_Handler`).

Tasks are kept in memory per process (and, in the server, written through to the database by
:class:`magec.a2a.durable.DurableTaskStore`, so ``tasks/get`` answers on every replica and after a
restart), at most :data:`MAX_TASKS` and at most ``max_bytes`` of them
serialised (:data:`TASK_BYTES_PER_BODY` × ``limits.bodyBytes``, 64 MiB by default): the oldest are
forgotten — those of the owner holding the most, so a client flooding the store forgets its own,
not another client's. Each holds its messages, so without a byte budget a client sending 10,000
messages of ``limits.bodyBytes`` would make the process hold 20 GB. Tasks are kept per (app, client): one client cannot read or cancel another's task, nor reach it through another
app's endpoint. The conversation itself (the A2A ``contextId``) is a magec session, stored in the
shared session service, so a follow-up message continues it on any replica.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, NoReturn

from a2a.auth.user import User
from a2a.server.agent_execution import RequestContext
from a2a.server.agent_execution.active_task import ActiveTask
from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.events.event_queue_v2 import QueueShutDown
from a2a.server.request_handlers import DefaultRequestHandler, validate_request_params
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.server.tasks import InMemoryTaskStore
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import TaskNotFoundError, UnsupportedOperationError
from a2a.utils.task import apply_history_length
from starlette.requests import Request
from starlette.responses import Response

from magec.a2a.cards import generic_card
from magec.a2a.executor import STATE_KEY, Turn, TurnExecutor

MAX_TASKS = 10_000
#: the tasks kept may take this many times the largest request body (``limits.bodyBytes``)
TASK_BYTES_PER_BODY = 32
_RUNNING = frozenset({pb.TaskState.TASK_STATE_SUBMITTED, pb.TaskState.TASK_STATE_WORKING})
#: characters of streamed text a task keeps per artifact part (:func:`_join_streamed_text`)
TEXT_BLOCK = 4096
#: seconds between two reads of a task followed from another process (its row is written at most
#: once a second while it runs)
FOLLOW_EVERY = 1.0


def _plain_text(part: pb.Part) -> bool:
    return part.WhichOneof("content") == "text" and not (part.metadata or part.filename or part.media_type)


def _join_streamed_text(task: pb.Task) -> None:
    """Join the trailing plain text parts of each artifact of ``task``, in place, into parts of up
    to :data:`TEXT_BLOCK` characters (see :class:`BoundedTaskStore`): what a stream appended since
    the last save joins the last block, so a save never copies more than a block of text (one
    part for a whole answer would be copied whole per token again)."""
    for artifact in task.artifacts:
        parts = artifact.parts
        while (len(parts) >= 2 and _plain_text(parts[-1]) and _plain_text(parts[-2])
               and len(parts[-2].text) < TEXT_BLOCK):
            parts[-2].text += parts[-1].text
            del parts[-1]


def _copy(task: pb.Task) -> pb.Task:
    out = pb.Task()
    out.CopyFrom(task)
    return out


class _Owner(User):
    """The task owner a2a-sdk scopes tasks by: the app and the client (open mode: no client)."""

    def __init__(self, turn: Turn) -> None:
        self._name = f"{turn.app.id}\x00{turn.client_id or ''}"

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self._name


class _ContextBuilder(DefaultServerCallContextBuilder):
    """a2a-sdk's context (headers: the A2A-Version negotiation reads them) plus our owner and turn."""

    def build_user(self, request: Request) -> User:
        return _Owner(request.state.magec_turn)

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state[STATE_KEY] = request.state.magec_turn
        return context


class BoundedTaskStore(InMemoryTaskStore):
    """a2a-sdk's in-memory task store that forgets tasks beyond ``limit`` tasks or ``max_bytes`` of
    serialised tasks: the least recently saved task of the owner (app and client) holding the most
    — tasks when over ``limit``, bytes when over ``max_bytes`` —, never the task just saved.
    Clients are mutually untrusted: one flooding the store forgets its own tasks, not the task
    another client was told to poll for.

    A streamed answer saves its task once per token, and a2a-sdk copies the saved task for the
    stream's subscribers each time: everything streamed so far, per token, made a long answer's
    cost grow with its square (~7 ms a token 16,000 tokens in). So a saved task is kept as given,
    not copied (a2a-sdk's default copies it again; its task manager saves every change it makes to
    it at once), :meth:`get` answers a copy (a list's tasks are copies already: protobuf copies a
    message into another), and the text fragments a stream appended to an artifact are joined as
    the task is saved (:func:`_join_streamed_text`): the copies are of a part per few thousand
    characters, not of one per token. The stream's events still carry each fragment. (Any run of
    plain text parts is joined so: text parts next to each other in an artifact are pieces of one
    agent's answer — the backends answer a model turn's text as one part, Gemini may split it.)"""

    def __init__(self, limit: int = MAX_TASKS, max_bytes: int | None = None) -> None:
        super().__init__(use_copying=False)
        self.limit = limit
        self.max_bytes = max_bytes
        #: owner -> task id -> context, least recently saved first
        self._owned: dict[str, OrderedDict[str, ServerCallContext]] = {}
        self._sizes: dict[tuple[str, str], int] = {}
        self._owner_bytes: dict[str, int] = {}
        self._count = 0
        self._bytes = 0

    async def save(self, task: pb.Task, context: ServerCallContext) -> None:
        _join_streamed_text(task)
        await super().save(task, context)
        owner = context.user.user_name
        key = (owner, task.id)
        tasks = self._owned.setdefault(owner, OrderedDict())
        self._count += task.id not in tasks
        tasks[task.id] = context
        tasks.move_to_end(task.id)
        # ByteSize serialises the task (ms for a task holding a 2 MiB message), and a streamed
        # answer saves the whole task once per token: measure it when it is first saved (its
        # message) and whenever it is not running (terminal or waiting: it holds what it keeps)
        if key not in self._sizes or task.status.state not in _RUNNING:
            size = task.ByteSize()
            grown = size - self._sizes.get(key, 0)
            self._bytes += grown
            self._owner_bytes[owner] = self._owner_bytes.get(owner, 0) + grown
            self._sizes[key] = size
        while self._count > self.limit or (self.max_bytes is not None and self._bytes > self.max_bytes):
            victim = self._heaviest(key, by_bytes=self._count <= self.limit)
            if victim is None:
                break  # only the task just saved is left
            await self._forget(*victim)

    async def get(self, task_id: str, context: ServerCallContext) -> pb.Task | None:
        task = await self._peek(task_id, context)
        return None if task is None else _copy(task)

    async def _peek(self, task_id: str, context: ServerCallContext) -> pb.Task | None:
        """The task as kept (not a copy): only to read it."""
        return await super().get(task_id, context)

    def _heaviest(self, keep: tuple[str, str], *, by_bytes: bool) -> tuple[str, str] | None:
        """(owner, task id) of the least recently saved task of the owner holding the most tasks
        (or bytes), other than ``keep``."""
        def share(owner: str) -> int:
            return self._owner_bytes.get(owner, 0) if by_bytes else len(self._owned[owner])

        for owner in sorted(self._owned, key=share, reverse=True):
            for task_id in self._owned[owner]:
                if (owner, task_id) != keep:
                    return owner, task_id
        return None

    async def _forget(self, owner: str, task_id: str) -> None:
        tasks = self._owned[owner]
        context = tasks.pop(task_id)
        if not tasks:
            del self._owned[owner]
        size = self._sizes.pop((owner, task_id), 0)
        self._bytes -= size
        self._owner_bytes[owner] = self._owner_bytes.get(owner, 0) - size
        if not self._owner_bytes[owner] or owner not in self._owned:
            self._owner_bytes.pop(owner, None)
        self._count -= 1
        await super().delete(task_id, context)

    def __len__(self) -> int:
        return self._count

    async def forget_client(self, client_id: str) -> None:
        """Drop every task of ``client_id`` kept here (the client was deleted: one created again
        with its id must not read them)."""
        suffix = f"\x00{client_id}"
        for owner in [o for o in self._owned if o.endswith(suffix) and client_id]:
            for task_id in list(self._owned[owner]):
                await self._forget(owner, task_id)

    async def state_of(self, task_id: str, context: ServerCallContext) -> pb.TaskState | None:
        """The task's state as :meth:`get` would answer it, without reading the task itself (a
        resubscription follows a task running elsewhere by this); None: no such task."""
        task = await self._peek(task_id, context)
        return None if task is None else task.status.state

    def cancel_signal(self, task_id: str, owner: str) -> asyncio.Event | None:
        """An event set when ``task_id``, running here, is cancelled *elsewhere* (another replica;
        a cancel made here goes through a2a-sdk, which stops the turn itself); the same event for
        every turn of the task running here. None: nothing else can cancel it (one process, the
        tasks in its memory). :meth:`forget_signal` once the last of those turns ended."""
        return None

    def forget_signal(self, task_id: str) -> None:
        """The task stopped running here: its :meth:`cancel_signal` is no longer watched."""

    async def close(self) -> None:
        """Nothing runs in the background of the in-memory store (the durable one renews leases)."""


def _follow(event: Event, task_id: str, state: pb.TaskState, seen: set[str]) -> tuple[str, pb.TaskState]:
    """(task id, state) of a task's stream after ``event``; the artifacts it sent join ``seen``."""
    if isinstance(event, pb.Task):
        seen.update(a.artifact_id for a in event.artifacts)
        return event.id, event.status.state
    if isinstance(event, pb.TaskStatusUpdateEvent):
        return event.task_id, event.status.state
    if isinstance(event, pb.TaskArtifactUpdateEvent):
        seen.add(event.artifact.artifact_id)
        return event.task_id, state
    return task_id, state


class _Handler(DefaultRequestHandler):
    """a2a-sdk's request handler; a resubscription (``tasks/resubscribe``, ``SubscribeToTask``) to
    a task whose turn runs in another process (a replica, a ``--workers`` process) follows its
    stored copy. a2a-sdk taps the turn's events where the turn runs; elsewhere it made an idle
    stand-in of the task that nothing ever fed nor ended: the stream stayed open with no end after
    the task ended, and the stand-in stayed in memory for good, one more per task asked about.

    A follow-up message to a task running here joins it (:class:`~magec.a2a.executor.TurnExecutor`
    ends the task with its last turn), and whoever waits for the task waits for that end: a
    blocking send, the stream of an earlier message of the task (a2a-sdk ends them with their own
    turn); a non-blocking follow-up is answered at once (a2a-sdk answers it when its turn starts).
    A task ended, or running in another process, refuses it (:meth:`_refuse`)."""

    def __init__(self, executor: TurnExecutor, tasks: BoundedTaskStore) -> None:
        super().__init__(agent_executor=executor, task_store=tasks, agent_card=generic_card())
        self.turns = executor
        self.tasks = tasks

    async def _setup_active_task(self, params: pb.SendMessageRequest,
                                 call_context: ServerCallContext) -> tuple[ActiveTask, RequestContext]:
        """a2a-sdk's, plus: a follow-up message (its ``taskId``) joins the task only while a turn
        of it runs here, counted (:meth:`TurnExecutor.accept`) before a2a-sdk queues it, so the
        running turn leaves the task to it. A task that ended takes no message (A2A: terminal); one
        running in another process cannot take it here (its turns run there, in order): both are
        A2A's ``UnsupportedOperationError``, as a2a-sdk answers a message to an ended task."""
        task_id = params.message.task_id
        if task_id and not self.turns.turns[task_id]:
            await self._refuse(task_id, call_context)
        active, request = await super()._setup_active_task(params, call_context)
        if task_id and not self.turns.accept(task_id):  # its last turn ended meanwhile
            await self._refuse(task_id, call_context)
        return active, request

    @validate_request_params
    async def on_message_send(self, params: pb.SendMessageRequest,
                              context: ServerCallContext) -> pb.Message | pb.Task:
        """A new task: a2a-sdk's, which answers when the message's own turn ended; a blocking send
        (A2A: it waits for the task's end) whose task goes on with a follow-up's turn waits for that
        too. A follow-up: the task at once (non-blocking) or at its end."""
        task_id = params.message.task_id
        if task_id:
            await self._join(params, context)
        else:
            result = await super().on_message_send(params, context)
            if not isinstance(result, pb.Task) or result.status.state not in _RUNNING:
                return result
            task_id = result.id
        if not params.configuration.return_immediately:
            async for _ in self._rest_of(task_id, set()):
                pass
        task = await self.tasks.get(task_id, context)
        if task is None:
            raise TaskNotFoundError
        return apply_history_length(task, params.configuration)

    @validate_request_params
    async def on_message_send_stream(self, params: pb.SendMessageRequest,
                                     context: ServerCallContext) -> AsyncGenerator[Event, None]:
        """A new task: a2a-sdk's stream, which ends with the message's own turn; a follow-up: the
        task, then its events. Either goes on to the task's end (A2A: the stream closes then)."""
        task_id, state = "", pb.TaskState.TASK_STATE_UNSPECIFIED
        seen: set[str] = set()
        if params.message.task_id:
            await self._join(params, context)
            task = await self.tasks.get(params.message.task_id, context)
            if task is None:
                raise TaskNotFoundError
            task_id, state = _follow(task, task_id, state, seen)
            yield apply_history_length(task, params.configuration)  # A2A: a task's stream begins with it
        else:
            async with aclosing(super().on_message_send_stream(params, context)) as events:
                async for event in events:
                    task_id, state = _follow(event, task_id, state, seen)
                    yield event
        if not task_id or state not in _RUNNING:
            return
        async for event in self._rest_of(task_id, seen):
            task_id, state = _follow(event, task_id, state, seen)
            yield event
        if state in _RUNNING:  # its end came before this stream tapped the task: as stored
            task = await self.tasks.get(task_id, context)
            if task is None:
                raise TaskNotFoundError
            for artifact in task.artifacts:
                if artifact.artifact_id not in seen:
                    yield pb.TaskArtifactUpdateEvent(task_id=task.id, context_id=task.context_id,
                                                     artifact=artifact, append=False, last_chunk=True)
            yield pb.TaskStatusUpdateEvent(task_id=task.id, context_id=task.context_id, status=task.status)

    async def _join(self, params: pb.SendMessageRequest, context: ServerCallContext) -> None:
        """Queue a follow-up message behind the running turn of its task, counted first
        (:meth:`_setup_active_task`) and queued with no await in between that could drop it (a
        client gone): a counted turn that never came would leave the task working for good."""
        active, request = await self._setup_active_task(params, context)
        await active.enqueue_request(request)

    async def _rest_of(self, task_id: str, seen: set[str]) -> AsyncGenerator[Event, None]:
        """The events of ``task_id``, running here, from now to its end (none once it ended)."""
        while (active := await self._active_task_registry.get(task_id)) is not None and not active.is_finished:
            try:
                async with aclosing(active.subscribe()) as events:
                    async for event in events:
                        yield event
                        if _follow(event, task_id, pb.TaskState.TASK_STATE_WORKING, seen)[1] not in _RUNNING:
                            return
            except (UnsupportedOperationError, QueueShutDown):  # it finished meanwhile
                return

    async def _refuse(self, task_id: str, call_context: ServerCallContext) -> NoReturn:
        """Why a message cannot join ``task_id``, which runs no turn here (owner-scoped: another
        client's task is not found)."""
        task = await self.tasks.get(task_id, call_context)
        if task is None:
            raise TaskNotFoundError(message=f"Task {task_id} was specified but does not exist")
        if task.status.state not in _RUNNING:
            raise UnsupportedOperationError(
                message=f"Task {task_id} is in terminal state: {pb.TaskState.Name(task.status.state)}")
        raise UnsupportedOperationError(
            message=f"Task {task_id} is running in another magec process: send the message with its "
                    "contextId and no taskId (a new task in the same conversation)")

    async def on_subscribe_to_task(self, params: pb.SubscribeToTaskRequest,
                                   context: ServerCallContext) -> AsyncGenerator[Event, None]:
        if params.id in self.turns.running or self.turns.turns[params.id]:  # its turns run here
            async for event in super().on_subscribe_to_task(params, context):
                yield event
            return
        task = await self.tasks.get(params.id, context)
        if task is None:
            raise TaskNotFoundError
        if task.status.state not in _RUNNING:  # ended, or waiting: nothing more would come
            raise UnsupportedOperationError(
                message=f"Task {task.id} is in terminal state: {pb.TaskState.Name(task.status.state)}")
        yield task
        state = task.status.state
        while True:  # as the stored copy changes (every replica writes it): its state, then its end
            await asyncio.sleep(FOLLOW_EVERY)
            # the state alone (the task, a user's words, is read and decrypted once, at its end)
            latest = await self.tasks.state_of(params.id, context)
            if latest is None:
                raise TaskNotFoundError
            if latest in _RUNNING:
                if latest != state:
                    state = latest
                    yield pb.TaskStatusUpdateEvent(task_id=task.id, context_id=task.context_id,
                                                   status=pb.TaskStatus(state=latest))
                continue
            now = await self.tasks.get(params.id, context)
            if now is None:
                raise TaskNotFoundError
            for artifact in now.artifacts:
                yield pb.TaskArtifactUpdateEvent(task_id=now.id, context_id=now.context_id, artifact=artifact,
                                                 append=False, last_chunk=True)
            yield pb.TaskStatusUpdateEvent(task_id=now.id, context_id=now.context_id, status=now.status)
            return


class A2aService:
    """a2a-sdk's request handler over :class:`TurnExecutor`, and its JSON-RPC dispatcher.
    ``ping``: seconds between the keep-alive comments of its event streams (``server.streamPing``);
    ``max_bytes``: the byte budget of the tasks kept (None: count only); ``tasks``: the task store
    (the server's writes through to the database, :mod:`magec.a2a.durable`)."""

    def __init__(self, max_tasks: int = MAX_TASKS, *, ping: float, max_bytes: int | None = None,
                 tasks: BoundedTaskStore | None = None) -> None:
        self.ping = ping
        self.tasks = tasks if tasks is not None else BoundedTaskStore(max_tasks, max_bytes)
        self.handler = _Handler(TurnExecutor(self.tasks), self.tasks)
        self.dispatcher = JsonRpcDispatcher(
            request_handler=self.handler, context_builder=_ContextBuilder(), enable_v0_3_compat=True
        )

    async def handle(self, request: Request, turn: Turn) -> Response:
        request.state.magec_turn = turn
        response: Any = await self.dispatcher.handle_requests(request)
        if hasattr(response, "ping_interval"):  # a stream: sse-starlette's, with its own 15 s default
            response.ping_interval = self.ping
        return response

    async def close(self) -> None:
        """Stop what the task store runs in the background (its leases' renewal)."""
        await self.tasks.close()
