"""Running one turn of an app (agent or flow) and shaping ADK events for clients.

Contract of :func:`run_turn`: yields :class:`TurnEvent` (ADK's event plus the magec author and
whether end users see it), typed until the HTTP edge, and never raises for backend/run failures:
a failed turn ends with exactly one error event whose ``error_code`` is the failure's code in the
one vocabulary of :mod:`magec.errors` (``MagecError.code``) and whose message is redacted. On the
ADK-shaped routes it is ``{"errorCode": <code>, "errorMessage": <text>, "author": ..., "turnComplete": true}``,
plus ``"retryAfter": <seconds>`` for a ``rate_limit`` failure whose provider said how long to wait
and a ``backend_unavailable`` one (the seconds until the backend's breaker lets a call through).
A turn an observer refuses before it runs (``budget_exceeded``, :mod:`magec.costs`) is that one
error event alone.

A turn cancelled mid-answer (its client hung up, magec stopping) keeps the answer's text streamed
so far in the session as ADK's ``interrupted`` event (relayed tokens, :attr:`magec.backends.relay.Relay.said`,
or partial events), and its observers see that event before ``left()``: what the user read is
what they find when they come back, and what the next turn's model is shown.

The answer before the bookkeeping: on an agent's turn run by
:class:`~magec.agents.direct.DirectRunner`, the event that answers (the agent's reply, already in
the session) is marked :attr:`TurnEvent.final`, and the turn's observers finish as it goes out
(the audit records the turn, admission frees its slot). Nothing a client sees follows it; what
does follow (ADK's spans and the flow's end, ~0.4–0.9 ms) need not delay the answer:
:func:`answer` collects a turn up to it and leaves the rest to run after the response is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events import Event
from google.adk.telemetry.context import TelemetryConfig
from google.genai import types

from magec._adk import LlmCallsLimitExceededError, StaleSessionError
from magec.agents.apps import App
from magec.agents.direct import DirectRunner
from magec.agents.ephemeral_sessions import EphemeralSessionService
from magec.backends import relay
from magec.backends._errors import no_address
from magec.errors import (
    AgentUnavailableError,
    BackendError,
    ConflictError,
    LlmCallsExceededError,
    MagecError,
    NotFoundError,
    ValidationError,
)
from magec.memory.event_cache import windowed
from magec.memory.session_base import MAX_SESSION_ID
from magec.redact import redact
from magec.runtime.build import Runtime

log = logging.getLogger(__name__)
_STALE_RETRIES = 3
#: ADK's telemetry settings, read from the environment once: without one on the RunConfig, ADK
#: builds a new config (seven environment reads) at every model call and span of every turn
_TELEMETRY = TelemetryConfig()
#: a turn's RunConfig by streaming flag, built once: a pydantic model with ~30 validated fields
#: (~1.5 % of a stateless turn's CPU when built per turn); ADK only reads it during a run
_RUN_CONFIGS = {
    streaming: RunConfig(streaming_mode=StreamingMode.SSE if streaming else StreamingMode.NONE, telemetry=_TELEMETRY)
    for streaming in (False, True)
}


@dataclass(slots=True)
class TurnEvent:
    """One event of a turn, typed until the HTTP edge.

    ``event`` is ADK's event (``None`` for an error magec reports itself, then ``error_code`` /
    ``error_message`` hold it); ``author_id`` / ``author_name`` are the magec agent behind ADK's
    author (``"user"`` for the user's own message); ``visible`` says whether end users see it
    (in flows only response agents speak). Only ADK-shaped routes turn it into JSON
    (:meth:`to_json`); the OpenAI surface reads :attr:`text` and :attr:`partial` directly.
    """

    event: Event | None
    author_id: str
    author_name: str | None
    visible: bool
    error_code: str | None = None
    error_message: str | None = None
    invocation_id: str = ""
    #: seconds the provider asked to wait (a ``rate_limit`` failure with ``Retry-After``), rounded up
    retry_after: int | None = None
    #: the turn's answer: no event a client sees follows (only the turn's bookkeeping)
    final: bool = False

    @property
    def partial(self) -> bool:
        return bool(self.event is not None and self.event.partial)

    @property
    def is_user(self) -> bool:
        return self.author_id == "user"

    @property
    def text(self) -> str:
        """The event's visible text (thought parts excluded)."""
        content = self.event.content if self.event is not None else None
        if content is None or not content.parts:
            return ""
        return "".join(p.text for p in content.parts if p.text and not p.thought)

    @property
    def usage(self) -> Any:
        return self.event.usage_metadata if self.event is not None else None

    def to_json(self) -> dict[str, Any]:
        """ADK's camelCase event JSON with ``author`` = agent id and ``authorName`` (Magec's shape)."""
        if self.event is None:
            return {
                "id": str(uuid.uuid4()),
                "invocationId": self.invocation_id,
                "author": self.author_id,
                **({"authorName": self.author_name} if self.author_name is not None else {}),
                "errorCode": self.error_code,
                "errorMessage": self.error_message,
                **({"retryAfter": self.retry_after} if self.retry_after is not None else {}),
                "turnComplete": True,
            }
        data: dict[str, Any] = self.event.model_dump(mode="json", by_alias=True, exclude_none=True)
        data["author"] = self.author_id
        if self.author_name is not None:
            data["authorName"] = self.author_name
        return data


def turn_event(event: Event, app: App) -> TurnEvent:
    """Wrap an ADK event of ``app``: resolve its author and whether end users see it."""
    author = event.author
    name: str | None = None
    if author in app.authors:
        author, name, _ = app.authors[author]
    return TurnEvent(
        event,
        author,
        name,
        _visible(event, author, app),
        event.error_code,
        event.error_message,
        event.invocation_id or "",
    )


def _visible(event: Event, author: str, app: App) -> bool:
    """For flows: only response agents' output (and user events, and errors) is shown to clients."""
    if app.kind != "flow" or author == "user" or event.error_code or event.error_message:
        return True
    known_agents = {aid for aid, _, _ in app.authors.values()}
    if author not in known_agents and not (event.content is not None and event.content.parts):
        return False  # workflow bookkeeping (loop routing markers): nothing for a user to read
    responders = {aid for aid, _, is_resp in app.authors.values() if is_resp}
    if not responders:
        return True
    # The flag is per flow step (the same agent may appear twice, once as responder): the step's
    # ADK name is the last segment of the event's node path ("…/<step name>@<run id>").
    path = event.node_info.path if event.node_info is not None else None
    step = str(path or "").rsplit("/", 1)[-1].split("@", 1)[0]
    if step in app.authors:
        return app.authors[step][2]
    return author in responders


def parse_message(raw: Any) -> types.Content:
    if not isinstance(raw, dict):
        raise ValidationError("newMessage: must be an object with parts", field="newMessage")
    try:
        content = types.Content.model_validate(
            {"role": raw.get("role") or "user", "parts": raw.get("parts") or []}
        )
    except Exception as e:  # noqa: BLE001 - pydantic error text names the part
        raise ValidationError(f"newMessage: {str(e).splitlines()[0]}", field="newMessage") from None
    if not content.parts:
        raise ValidationError("newMessage.parts: at least one part is required", field="newMessage.parts")
    if content.role != "user":
        raise ValidationError("newMessage.role: must be \"user\" (a client speaks as the user)", field="newMessage.role")
    for i, part in enumerate(content.parts):
        if part.function_call is not None:  # ADK refuses it mid-turn (an internal error): say so here
            raise ValidationError(
                f"newMessage.parts[{i}].functionCall: a user message cannot call a function "
                "(send a functionResponse to answer a client tool)",
                field=f"newMessage.parts[{i}].functionCall",
            )
    return content


def require_app(
    runtime: Runtime, app_name: str, usable: Callable[[str], bool] | None = None, field: str | None = "appName"
) -> App:
    """The app ``app_name`` names (id, or name: see :meth:`Runtime.find`), ready to run."""
    app = runtime.find(app_name, usable, field=field) if app_name else None
    if app is None:
        raise NotFoundError(f"app {app_name!r} not found (no agent or flow with that id)")
    if not app.status.valid or app.runner is None:
        raise AgentUnavailableError(app.status.reason or "agent unavailable")
    return app


async def ensure_session(
    runtime: Runtime, app: App, user_id: str, session_id: str | None, state: dict[str, Any] | None = None
) -> str:
    """The id of the session, created when absent. Idempotent under concurrency: N racing first
    requests on one new id all get the one session (the loser of the insert race reads it back)."""
    svc = runtime.session_service
    if not session_id:
        return (await svc.create_session(app_name=app.id, user_id=user_id, state=state)).id
    if not isinstance(session_id, str) or len(session_id) > MAX_SESSION_ID:
        # the id columns are bounded; a longer id would fail deep in the database driver
        raise ValidationError(
            f"sessionId: must be a string of at most {MAX_SESSION_ID} characters", field="sessionId"
        )
    get_or_create = getattr(svc, "get_or_create_session", None)
    if get_or_create is not None:
        session = await get_or_create(app_name=app.id, user_id=user_id, session_id=session_id, state=state)
        return str(session.id)
    if await svc.get_session(app_name=app.id, user_id=user_id, session_id=session_id) is not None:
        return session_id
    try:
        return (await svc.create_session(app_name=app.id, user_id=user_id, session_id=session_id, state=state)).id
    except AlreadyExistsError:
        return session_id


@contextlib.asynccontextmanager
async def _sync(cm: Any) -> AsyncGenerator[None, None]:
    """A synchronous context manager where only ``async with`` fits."""
    with cm:
        yield


#: one lock per live conversation: turns on one session run one after the other, in arrival order
_turn_locks: weakref.WeakValueDictionary[tuple[int, str, str, str], asyncio.Lock] = weakref.WeakValueDictionary()


def _turn_lock(runner: Any, app_id: str, user_id: str, session_id: str) -> asyncio.Lock:
    key = (id(runner.session_service), app_id, user_id, session_id)
    lock = _turn_locks.get(key)
    if lock is None:
        lock = _turn_locks[key] = asyncio.Lock()
    return lock


def _error_event(app: App, err: BaseException, invocation_id: str) -> TurnEvent:
    code = err.code if isinstance(err, MagecError) else MagecError.code
    message = redact(str(err)) if isinstance(err, MagecError) else "internal error"
    wait = getattr(err, "retry_after", None) if isinstance(err, MagecError) else None
    retry_after = math.ceil(wait) if wait is not None else None
    author_id, author_name = app.id, app.name
    # a flow's turn says which of its agents failed: a provider's message ("invalid x-api-key",
    # "backend X is down") names no step, and a flow may run several agents on one backend
    failed = app.authors.get(err.failed_agent or "") if isinstance(err, MagecError) and app.kind == "flow" else None
    if failed is not None:
        author_id, author_name = failed[0], failed[1]
        message = f"{author_name}: {message or code}"
    return TurnEvent(None, author_id, author_name, True, code, message or code, invocation_id, retry_after)


def _coded(event: Event) -> None:
    """An ADK error event that carries a message but no code — how ADK's ``RemoteA2aAgent`` reports
    every failure of a remote A2A agent (an unreachable peer, a card it cannot read, a broken
    answer) — made a failure in magec's vocabulary: clients tell a failed turn by its code (without
    one, ``/v1`` answered ``200`` with an empty message and a webhook an empty answer). The remote
    agent stands where a backend does, so it is a ``backend_error``, and its text loses the
    addresses it names (the admin-configured URL of the peer), as a backend's does
    (:func:`magec.backends._errors.no_address`)."""
    event.error_code = BackendError.code
    event.error_message = no_address(event.error_message or "") or BackendError.code


def refused(runtime: Runtime, app: App, err: MagecError) -> None:
    """Tell the turn observers a turn of ``app`` was refused before it ran (``magec_turns_total``
    counts it with ``err.code``): here, and by a route that refuses before its stream opens."""
    hook = getattr(runtime.observer, "refused", None)
    if hook is not None:
        hook(app, err.code)


async def run_turn(
    runtime: Runtime,
    app: App,
    user_id: str,
    session_id: str,
    message: types.Content,
    *,
    streaming: bool = False,
    state_delta: dict[str, Any] | None = None,
    runner: Any = None,
) -> AsyncGenerator[TurnEvent, None]:
    cut: list[Event] = []  # the answer a client hung up on, as kept in its session (by _run_turn)
    turn = _run_turn(runtime, app, user_id, session_id, message, streaming, state_delta, runner, cut)
    # The conversation audit sees every turn of every surface here: its probe only keeps
    # references (a list append per event); the recording is written later, off this path.
    observer = runtime.observer
    try:
        if observer is not None:
            # checks that may need a read first (magec.memory.session_quota), then the synchronous
            # ones; a stateless call (its ephemeral runner) stores nothing
            stores = runner is None or not isinstance(getattr(runner, "session_service", None), EphemeralSessionService)
            await observer.admit(runtime, app, user_id, session_id, message, stores=stores, state_delta=state_delta)
        probe = observer.begin(runtime, app, user_id, session_id, message) if observer is not None else None
    except MagecError as err:  # refused before it ran (a spent budget, a full quota): one error event
        log.info("turn of %s %r (session %s) refused: %s: %s", app.kind, app.name, session_id, err.code, err)
        refused(runtime, app, err)
        yield _error_event(app, err, "")
        return
    if probe is None:
        async with contextlib.aclosing(turn):
            async for event in turn:
                yield event
        return
    try:
        async with contextlib.aclosing(turn):
            async for event in turn:
                if probe is not None:
                    probe.see(event)
                    if event.final:
                        # answered: recorded and its slot freed before the client has it, so a
                        # client's next turn never finds this one still running
                        done, probe = probe, None
                        done.finish()
                yield event
    except (GeneratorExit, asyncio.CancelledError):
        # the client left before the answer (its stream closed, its request cancelled): the
        # observers that record the turn say so (magec.costs.observe), with the words it had read
        if probe is not None:
            for stored in cut:
                probe.see(turn_event(stored, app))
        left = getattr(probe, "left", None)
        if left is not None:
            left()
        raise
    finally:
        if probe is not None:
            probe.finish()


async def _run_turn(
    runtime: Runtime,
    app: App,
    user_id: str,
    session_id: str,
    message: types.Content,
    streaming: bool,
    state_delta: dict[str, Any] | None,
    runner: Any,
    cut: list[Event],
) -> AsyncGenerator[TurnEvent, None]:
    runner = runner or app.turn_runner()
    config = _RUN_CONFIGS[bool(streaming)]
    # an agent turn the direct runner runs itself marks its answer (magec.agents.direct)
    answers = runner.answers if isinstance(runner, DirectRunner) and runner.runs_itself(message) else None
    invocation_id = ""
    yielded = 0
    answered = False  # once the answer went out, the rest of the run is drained, never shown
    # ADK reports a failed model call as an error event *and* raises it: the event is held back
    # until the run goes on, so a failure ends the turn with one error event (ours), not two.
    held: TurnEvent | None = None
    # the answer's words streamed so far as partial events (flows; a stream without a token relay),
    # and who spoke them: kept if the client hangs up before the complete event
    spoken: list[str] = []
    speaker = ""
    sink: relay.Relay | None = None
    try:
        # Concurrent turns on one session would each load it, and all but one would then fail as
        # stale: in this process they queue instead. Another replica's turn racing ours shows up as
        # a StaleSessionError before anything was produced: that turn is simply started again.
        # the session is read as the app's window (an agent's sliding-window context guard)
        async with _turn_lock(runner, app.id, user_id, session_id), _sync(windowed(app.window)):
            try:
                for attempt in range(_STALE_RETRIES + 1):
                    # relayed tokens reach the client without being yielded here: they count as output
                    sink = relay.current()
                    pushed = sink.pushed if sink is not None else 0
                    try:
                        async for event in runner.run_async(
                            user_id=user_id,
                            session_id=session_id,
                            new_message=message,
                            state_delta=state_delta or None,
                            run_config=config,
                        ):
                            invocation_id = event.invocation_id or invocation_id
                            if answered:
                                continue
                            if event.partial:
                                parts = event.content.parts if event.content is not None else None
                                spoken.extend(p.text for p in parts or () if p.text and not p.thought)
                                speaker = event.author or speaker
                            elif event.author != "user":  # the words so far are stored (or were a step's)
                                spoken.clear()
                                if sink is not None:
                                    sink.said.clear()
                            if held is not None:
                                yield held
                                held = None
                            yielded += 1
                            if event.error_code or event.error_message:
                                event.error_message = redact(event.error_message)
                                if not event.error_code:
                                    _coded(event)
                                held = turn_event(event, app)
                                continue
                            te = turn_event(event, app)
                            te.final = answered = answers is not None and answers(event)
                            yield te
                        break
                    except StaleSessionError as err:
                        if yielded or (sink is not None and sink.pushed != pushed) or attempt == _STALE_RETRIES:
                            # what went out is not stored: the client learns why, in the error vocabulary
                            raise ConflictError(
                                "the conversation changed elsewhere (another replica) while this answer was "
                                "being saved; the answer was not stored: send the message again"
                            ) from err
            except (GeneratorExit, asyncio.CancelledError):
                # the client hung up mid-answer (or magec is stopping): the words it read stay in its
                # session, marked interrupted, as a user who comes back expects to find them
                text = "".join(sink.said if sink is not None and sink.said else spoken)
                if not answered and text.strip():
                    author = speaker or getattr(getattr(runner, "agent", None), "name", "") or app.id
                    kept = asyncio.ensure_future(_keep_interrupted(runner, user_id, session_id, author, invocation_id, text))
                    with contextlib.suppress(asyncio.CancelledError):  # a second cancel: it still completes
                        stored = await asyncio.shield(kept)
                        if stored is not None:
                            cut.append(stored)
                raise
    except Exception as err:  # noqa: BLE001 - every failure becomes an error event, never a dropped stream
        if answered:  # the answer is stored and out: a failure in what followed is only logged
            log.warning("turn of %s %r (session %s) failed after its answer: %s", app.kind, app.name,
                        session_id, redact(repr(err)))
            return
        cause: BaseException = err
        # ADK may wrap our errors; surface the innermost magec error when there is one.
        while not isinstance(cause, MagecError | LlmCallsLimitExceededError) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, LlmCallsLimitExceededError):
            # ADK's own guard against a runaway loop: a named error of ours, not an internal one
            cause = LlmCallsExceededError(f"{app.kind} {app.name!r} stopped: {cause}")
        failure = _error_event(app, cause if isinstance(cause, MagecError) else err, invocation_id)
        # the one log line of this failure (ADK's own records of it are filtered: magec.logs)
        detail = failure.error_message if isinstance(cause, MagecError) else redact(repr(err))
        log.warning("turn of %s %r (session %s) failed: %s: %s", app.kind, app.name, session_id, failure.error_code, detail)
        yield failure
        return
    if held is not None:
        log.warning("turn of %s %r (session %s) failed: %s: %s", app.kind, app.name, session_id,
                    held.error_code, held.error_message)
        yield held


async def _keep_interrupted(
    runner: Any, user_id: str, session_id: str, author: str, invocation_id: str, text: str
) -> Event | None:
    """Append the ``text`` an agent had streamed when its turn was cut off to the session, as
    ADK's ``interrupted`` event (the next turn's model sees it too); None when not stored (a
    stateless call, a session deleted meanwhile, a store failure: logged)."""
    svc = getattr(runner, "session_service", None)
    if svc is None or isinstance(svc, EphemeralSessionService):
        return None
    app_name = getattr(runner, "app_name", None) or getattr(getattr(runner, "_runner", None), "app_name", "")
    event = Event(invocation_id=invocation_id or Event.new_id(), author=author, interrupted=True,
                  content=types.Content(role="model", parts=[types.Part(text=text)]))
    try:
        session = await svc.get_session(app_name=app_name, user_id=user_id, session_id=session_id)
        if session is None:
            return None
        await svc.append_event(session=session, event=event)
    except Exception as err:  # noqa: BLE001 - the turn is over either way; only the partial answer is lost
        log.warning("session %s: the interrupted answer was not kept: %s", session_id, redact(repr(err)))
        return None
    return event


@dataclass(slots=True)
class Answer:
    """A turn's events up to its answer (all of them when none is marked), and its ``rest``."""

    events: list[TurnEvent]
    _relay: relay.Relay

    async def rest(self) -> None:
        """Wait for what the turn does after its answer (bookkeeping; its failures are logged)."""
        await self._relay.rest()


async def answer(
    turn: AsyncGenerator[TurnEvent, None],
    sink: relay.Relay | None = None,
    idle: Callable[[], Awaitable[None]] | None = None,
) -> Answer:
    """Collect ``turn`` (:func:`run_turn`, not streamed) until its :attr:`TurnEvent.final` event,
    or its end; the rest of the turn goes on in its task (:meth:`Answer.rest` waits for it), so a
    non-streamed answer is sent without waiting for it. Cancelling this call cancels the turn.
    The turn runs under a token relay (:func:`magec.backends.relay.relaying`; ``sink`` when given)
    only for its task and its release: a non-streamed model call relays nothing. A
    :meth:`~magec.backends.relay.Relay.poke` of ``sink`` awaits ``idle()``, which may raise to end
    the turn (an edge whose client hung up, :func:`magec.api.limits.answer_while_connected`): the
    wait stays in the caller's task, one wake-up from the turn's answer to its response."""
    sink = sink or relay.Relay()
    events: list[TurnEvent] = []
    async with contextlib.aclosing(relay.relaying(turn, sink)) as batches:
        async for batch in batches:
            if batch[0] is relay.IDLE:
                if idle is not None:
                    await idle()
                continue
            events.extend(batch)
            if any(e.final for e in batch):
                sink.release()  # closing the iteration now leaves the turn to finish
                break
    return Answer(events, sink)
