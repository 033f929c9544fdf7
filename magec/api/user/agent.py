"""ADK-shaped run API: ``/api/v1/agent/*`` (list-apps, run, run_sse, sessions, version, app-info).

Request bodies are accepted in camelCase and snake_case (Magec issue #26; typed in
:mod:`magec.api.user.adk_models`); values inside ``stateDelta`` / ``state`` are user data and keep
their keys. The same routes are mounted on the admin app under ``/api/v1/admin/agent`` for the
playground (admin auth instead of client tokens).

ADK parity (what ADK's dev web UI and API clients send): ``list-apps`` answers app *names* (ids and
status with ``?detailed=true``; a name two apps share is listed as the ids), every ``appName`` may
be a name or an id; session lists carry ``state`` (bounded: a big or old one is ``{}`` with
``stateOmitted``, :mod:`magec.memory.session_listing`); ``PATCH …/sessions/{id}`` applies a
``stateDelta`` as one event; ``POST …/sessions`` takes ``sessionId``, ``state`` and ``events`` (an
import: events appended in order, ADK's checks — no actions, no long-running ids); ``GET /version``
and ``GET /apps/{app}/app-info``; ``/config/telemetry`` (``adk web``'s consent route: always off,
so the dev UI asks no one); error bodies carry ``detail`` next to ``error`` / ``code``
(:mod:`magec.api.user.error_shapes`). Intended differences are listed in ``docs/openai.md``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.encoders import jsonable_encoder
from google.adk import version as adk_version
from google.adk.agents import LlmAgent
from google.adk.events import Event, EventActions
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.tools.base_tool import BaseTool
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse

from magec.agents.apps import App
from magec.api import counts, file_uris
from magec.api.clients import OPEN, Caller, authenticate, check_client_state
from magec.api.errors import error_response, json_body, status_for_code
from magec.api.limits import answer_while_connected
from magec.api.routing import GatedRouter
from magec.api.streaming import EventStreamResponse
from magec.api.user.adk_models import CreateSessionRequest, RunAgentRequest, UpdateSessionRequest, body_doc
from magec.api.user.session_reads import ReadGate
from magec.audit.context import attributed, set_surface
from magec.backends.relay import Relay, Token, merged, relaying
from magec.context import AppContext
from magec.errors import (
    AgentUnavailableError,
    BackendUnavailableError,
    ConflictError,
    MagecError,
    NotFoundError,
    OverloadedError,
    RateLimitedError,
    ValidationError,
    require_string,
)
from magec.loop import off_loop
from magec.memory.session_listing import session_heads
from magec.memory.session_quota import reserve
from magec.runtime.build import Runtime
from magec.runtime.run import (
    TurnEvent,
    ensure_session,
    parse_message,
    refused,
    require_app,
    run_turn,
    turn_event,
)

_DATA_KEYS = {"state", "stateDelta", "args", "response"}

#: documented request body of /run and /run_sse (read by hand, so FastAPI cannot infer it)
RUN_BODY: dict[str, Any] = body_doc(RunAgentRequest)



def admission_refusal(event: TurnEvent) -> Response | None:
    """A turn's only event, when it says "come back later", as the HTTP answer it deserves, so
    clients and load balancers back off: refused at admission (:mod:`magec.runtime.admission`:
    nothing ran, no invocation) — 503 ``overloaded`` / 429 ``too_many_requests`` — or failed at
    once on an open circuit breaker — 503 ``backend_unavailable`` — each with ``Retry-After``;
    None for any other event."""
    breaker_open = event.error_code == BackendUnavailableError.code
    if not breaker_open and (event.invocation_id or event.error_code not in (OverloadedError.code, RateLimitedError.code)):
        return None
    code = event.error_code or OverloadedError.code
    wait = str(event.retry_after or 1)
    return error_response(status_for_code(code), event.error_message or code, code=code, headers={"Retry-After": wait})

_NO_ACTIONS: dict[str, Any] = {"stateDelta": {}, "artifactDelta": {}, "requestedAuthConfigs": {}, "requestedToolConfirmations": {}}


def relayed_json(app: App, relay: Relay, batch: list[Any]) -> list[str]:
    """A batch of a relayed turn as event JSON: consecutive tokens of one kind become one partial
    event in ADK's shape (one id per model call, the invocation's id); events as :meth:`TurnEvent.to_json`."""
    out: list[str] = []
    for item in merged(batch):
        if isinstance(item, Token):
            part: dict[str, Any] = {"text": item.text, **({"thought": True} if item.thought else {})}
            out.append(json.dumps({
                "content": {"parts": [part], "role": "model"}, "partial": True,
                "invocationId": relay.invocation_id, "author": app.id, "actions": _NO_ACTIONS,
                "id": relay.call_id, "timestamp": time.time(), "authorName": app.name,
            }))
        else:
            out.append(json.dumps(item.to_json()))
    return out


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def normalise(value: Any) -> Any:
    """snake_case → camelCase for protocol keys; user data (state, tool args) is left untouched."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = _camel(k) if isinstance(k, str) else k
            out[key] = v if key in _DATA_KEYS else normalise(v)
        return out
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def session_json(session: Any, app: App, *, user_view: bool, caller: Caller = OPEN) -> dict[str, Any]:
    typed = (turn_event(e, app) for e in session.events)
    events = [t.to_json() for t in typed if t.visible or not user_view]
    return {
        "id": session.id,
        "appName": session.app_name,
        "userId": caller.shown(session.user_id),
        "state": dict(session.state),
        "events": events,
        "lastUpdateTime": session.last_update_time,
    }


def agent_router(
    ctx: AppContext, caller_of: Callable[[Request, Runtime], Caller], *, user_view: bool
) -> APIRouter:
    """``user_view=False`` is the admin playground: every event, every session, any state key.

    For clients every user id in a path or body is the caller's own (``Caller.owner_key``), so
    another client's session is simply not found (404) on every route, and client-written state is
    limited to ``client:`` keys (``check_client_state``)."""
    r = APIRouter(tags=["agent"])
    reads = ReadGate()  # whole-session reads at once, per client

    async def runtime() -> Runtime:
        assert ctx.runtime is not None
        return await ctx.runtime.fresh()

    def app_for(
        request: Request, rt: Runtime, app_name: str, *, must_be_valid: bool = True
    ) -> tuple[App, Caller]:
        caller = caller_of(request, rt)
        app = rt.find(app_name, caller.may_use, field="appName")
        if app is not None:
            caller.check(app.id)
        if must_be_valid:
            return require_app(rt, app_name, caller.may_use), caller
        if app is None:
            require_app(rt, app_name)  # raises the 404
        assert app is not None
        return app, caller

    def audit_surface(request: Request, route: str) -> tuple[str, str, bool]:
        """(surface, source, spoken) of a turn for the conversation audit: the admin's are the
        playground's; the Voice UI marks its turns with ``?source=voice-ui`` (Magec's source name)
        and ``&voice=1`` when the text came from speech."""
        if not user_view:
            return "playground", "", False
        if request.query_params.get("source") != "voice-ui":
            return route, "", False
        return route, "voice-ui", request.query_params.get("voice") == "1"

    def client_state(value: Any, field: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValidationError(f"{field}: must be an object", field=field)
        if user_view:  # the admin is trusted with every key (e.g. to test an outputKey template)
            check_client_state(value, field)
        return value

    @r.get("/list-apps", summary="Agents and flows this caller may use")
    async def list_apps(request: Request, detailed: bool = False) -> list[Any]:
        rt = await runtime()
        caller = caller_of(request, rt)
        apps = [a for a in rt.apps.values() if caller.may_use(a.id)]
        if detailed or not user_view:
            return [
                {
                    "id": a.id,
                    "name": a.name,
                    "kind": a.kind,
                    "valid": a.status.valid,
                    "invalidReason": a.status.reason,
                }
                for a in apps
            ]
        # names, as ADK lists them (its web UI shows and sends them back); a shared name → the ids
        names = [a.name for a in apps]
        return [a.name if a.name and names.count(a.name) == 1 else a.id for a in apps]

    async def _prepare(request: Request) -> tuple[Runtime, App, str, str, Any, bool, dict[str, Any] | None]:
        body = normalise(await json_body(request))
        if not isinstance(body, dict):
            raise ValidationError("request body must be a JSON object")
        for field in ("appName", "userId"):
            require_string(body.get(field), field)
        rt = await runtime()
        app, caller = app_for(request, rt, body["appName"])
        user = caller.owner_key(body["userId"])
        raw_message = body.get("newMessage")
        # before a pydantic object is made of each part (magec.api.counts)
        counts.check_parts(raw_message.get("parts") if isinstance(raw_message, dict) else None, "newMessage.parts")
        if user_view:  # the admin's playground: the key's owner may name its own files
            file_uris.check(ctx.config.allow_client_file_uris, rt.snapshot, app, run=raw_message)
        message = parse_message(raw_message)
        state_delta = client_state(body.get("stateDelta"), "stateDelta")
        # A session id that another client uses is a different session here (its key holds the
        # owner): the run starts the caller's own conversation and reads or writes nothing of the
        # other one, so the answer is no oracle for which ids exist.
        session_id = await ensure_session(rt, app, user, body.get("sessionId") or None)
        return rt, app, user, session_id, message, bool(body.get("streaming")), state_delta

    @r.post("/run", summary="Run one turn; returns the event array", openapi_extra=RUN_BODY)
    async def run(request: Request) -> list[dict[str, Any]]:
        rt, app, user, sid, message, streaming, delta = await _prepare(request)

        surface = audit_surface(request, "run")

        # a client that hangs up cancels the turn (and its provider calls); the answer goes out
        # before the turn's bookkeeping (magec.runtime.run.answer)
        with attributed(*surface):
            turn = run_turn(rt, app, user, sid, message, streaming=False, state_delta=delta)
            got = await answer_while_connected(request, turn)
        events = got.events
        if len(events) == 1 and (refusal := admission_refusal(events[0])) is not None:
            return refusal  # type: ignore[return-value]
        return JSONResponse(  # type: ignore[return-value]
            [e.to_json() for e in events if e.visible or not user_view], background=BackgroundTask(got.rest)
        )

    @r.post(
        "/run_sse",
        summary="Run one turn as Server-Sent Events (token-level partials when streaming)",
        openapi_extra=RUN_BODY,
    )
    async def run_sse(request: Request) -> Response:
        rt, app, user, sid, message, streaming, delta = await _prepare(request)

        surface = audit_surface(request, "run_sse")

        # a turn over a concurrency limit is an HTTP 503/429 with Retry-After before the stream
        # opens (the headers of a stream go out at once; a turn refused later, in a race for the
        # last slot, is the stream's one error event)
        admission = ctx.extras.get("admission")
        if admission is not None:
            try:
                admission.precheck(rt, app, user)
            except MagecError as err:
                refused(rt, app, err)  # counted like a refusal inside run_turn
                raise

        relay = Relay()

        async def stream() -> AsyncIterator[str]:
            set_surface(*surface)  # the audit's attribution of this turn (magec.audit.context)
            turn = run_turn(rt, app, user, sid, message, streaming=streaming, state_delta=delta)
            if app.kind != "agent":
                async for event in turn:
                    if event.visible or not user_view:
                        yield json.dumps(event.to_json())
                return
            # an agent's tokens come through the token relay (magec.backends.relay), in batches; the
            # stream ends with the turn's answer, its bookkeeping goes on after (``relay.rest``)
            async with contextlib.aclosing(relaying(turn, relay)) as batches:
                async for batch in batches:
                    for data in relayed_json(app, relay, batch):
                        yield data
                    if any(isinstance(x, TurnEvent) and x.final for x in batch):
                        relay.release()
                        break

        return EventStreamResponse(stream(), ping=ctx.config.stream_ping, background=BackgroundTask(relay.rest))

    base = "/apps/{app_name}/users/{user_id}/sessions"

    @r.get(base, summary="List sessions")
    async def list_sessions(app_name: str, user_id: str, request: Request) -> list[dict[str, Any]]:
        rt = await runtime()
        app, caller = app_for(request, rt, app_name, must_be_valid=False)
        listing = await session_heads(rt.session_service, app.id, caller.owner_key(user_id))
        # ADK's shape; a state too big to list (or of an older session) is left out, marked
        # (magec.memory.session_listing: the listing's memory is bounded, docs/sessions.md)
        return [
            {"id": s.id, "appName": s.app_name, "userId": caller.shown(s.user_id),
             "state": dict(s.state), "events": [], "lastUpdateTime": s.last_update_time,
             **({"stateOmitted": True} if s.id in listing.omitted else {})}
            for s in listing.sessions
        ]

    if not user_view:

        @r.get("/apps/{app_name}/sessions", summary="Admin: every session of an app, of every client and user")
        async def list_all_sessions(app_name: str, request: Request) -> list[dict[str, Any]]:
            rt = await runtime()
            app, _ = app_for(request, rt, app_name, must_be_valid=False)
            listing = await session_heads(rt.session_service, app.id, None)  # no session's state is read
            return [
                {"id": s.id, "appName": s.app_name, "userId": s.user_id, "lastUpdateTime": s.last_update_time}
                for s in listing.sessions
            ]

    async def _create(
        request: Request, app_name: str, user_id: str, session_id: str | None
    ) -> dict[str, Any]:
        rt = await runtime()
        app, caller = app_for(request, rt, app_name, must_be_valid=False)
        user = caller.owner_key(user_id)
        body = normalise(await json_body(request, required=False))
        if body is not None and not isinstance(body, dict):
            raise ValidationError("body: must be a JSON object", field="body")
        body = body or {}
        state = client_state(body.get("state"), "state")
        if session_id is None and body.get("sessionId") is not None:
            session_id = body["sessionId"]
            if not isinstance(session_id, str) or not session_id:
                raise ValidationError("sessionId: must be a non-empty string", field="sessionId")
        events = await import_events(body.get("events"), app, ctx.config.max_import_events)
        if events and session_id is not None:
            head = GetSessionConfig(num_recent_events=0)
            if await rt.session_service.get_session(app_name=app.id, user_id=user, session_id=session_id,
                                                    config=head) is not None:
                raise ConflictError(f"session {session_id!r} already exists: events are imported into a new one")
        await reserve(rt.session_service, user, events)  # a client over its stored-conversation limit: 413
        sid = await ensure_session(rt, app, user, session_id, state)
        session = await rt.session_service.get_session(app_name=app.id, user_id=user, session_id=sid)
        assert session is not None
        # each append commits its event to ``session`` too: no re-read (a long session's parsing
        # would hold the loop)
        for event in events:
            await rt.session_service.append_event(session, event)
        if len(session.events) > LONG_IMPORT:  # ~40 µs an event: thousands would hold the loop
            return await off_loop(functools.partial(session_json, session, app, user_view=user_view, caller=caller))
        return session_json(session, app, user_view=user_view, caller=caller)

    @r.post(base, summary="Create a session (sessionId, state, events to import)",
            openapi_extra=body_doc(CreateSessionRequest, required=False))
    async def create_session(app_name: str, user_id: str, request: Request) -> dict[str, Any]:
        return await _create(request, app_name, user_id, None)

    @r.post(base + "/{session_id}", summary="Create a session, or return it unchanged when it exists",
            openapi_extra=body_doc(CreateSessionRequest, required=False))
    async def create_named(app_name: str, user_id: str, session_id: str, request: Request) -> dict[str, Any]:
        return await _create(request, app_name, user_id, session_id)

    @r.get(base + "/{session_id}", summary="Session with its history")
    async def get_session(app_name: str, user_id: str, session_id: str, request: Request) -> Response:
        rt = await runtime()
        app, caller = app_for(request, rt, app_name, must_be_valid=False)
        owner = caller.owner_key(user_id)
        # read, built and serialised within the client's share of reads (magec.api.user.session_reads)
        async with reads.hold(caller.client_id or owner):
            session = await rt.session_service.get_session(app_name=app.id, user_id=owner, session_id=session_id)
            if session is None:
                raise NotFoundError(f"session {session_id!r} not found")
            return JSONResponse(jsonable_encoder(session_json(session, app, user_view=user_view, caller=caller)))

    @r.delete(base + "/{session_id}", status_code=204, summary="Delete (reset) a session")
    async def delete_session(app_name: str, user_id: str, session_id: str, request: Request) -> Response:
        rt = await runtime()
        app, caller = app_for(request, rt, app_name, must_be_valid=False)
        user = caller.owner_key(user_id)
        svc = rt.session_service
        # 404 when there is nothing to delete (as GET), so a delete of another client's session
        # answers exactly like one of a session that never existed.
        head = GetSessionConfig(num_recent_events=0)  # existence only: no events loaded
        if await svc.get_session(app_name=app.id, user_id=user, session_id=session_id, config=head) is None:
            raise NotFoundError(f"session {session_id!r} not found")
        await svc.delete_session(app_name=app.id, user_id=user, session_id=session_id)
        return Response(status_code=204)

    @r.patch(base + "/{session_id}", summary="Update a session's state without running the agent",
             openapi_extra=body_doc(UpdateSessionRequest))
    async def update_session(app_name: str, user_id: str, session_id: str, request: Request) -> dict[str, Any]:
        rt = await runtime()
        app, caller = app_for(request, rt, app_name, must_be_valid=False)
        user = caller.owner_key(user_id)
        body = normalise(await json_body(request))
        if not isinstance(body, dict):
            raise ValidationError("request body must be a JSON object")
        raw = body.get("stateDelta")
        if raw is None:
            raise ValidationError("stateDelta: is required", field="stateDelta")
        svc = rt.session_service
        session = await svc.get_session(app_name=app.id, user_id=user, session_id=session_id)
        if session is None:
            raise NotFoundError(f"session {session_id!r} not found")
        if isinstance(raw, dict):
            # ADK's web UI renames a session by sending back the whole state it read with the new
            # name: a key sent with the value it already has writes nothing, so it is not refused
            raw = {k: v for k, v in raw.items() if k not in session.state or session.state[k] != v}
        delta = client_state(raw, "stateDelta")
        assert delta is not None
        event = Event(invocation_id="p-" + str(uuid.uuid4()), author="user", actions=EventActions(state_delta=delta))
        await reserve(svc, user, [event], session=(app.id, session.id))  # over a stored-size limit: 413
        await svc.append_event(session, event)
        return session_json(session, app, user_view=user_view, caller=caller)

    @r.get("/version", summary="The ADK version behind this API (as adk api_server answers)")
    async def version(request: Request) -> dict[str, str]:
        # versions tell an attacker which known flaws to try: callers only, as every other route
        caller_of(request, await runtime())
        v = sys.version_info
        return {"version": adk_version.__version__, "language": "python",
                "language_version": f"{v.major}.{v.minor}.{v.micro}"}

    # ADK's dev web UI asks ``adk web`` (an ``adk web``-only route) whether its Google Analytics may
    # run, and asks the user when there is no answer (every fresh browser: a 404 here). magec sends
    # no usage data anywhere, so the answer is a constant no — to anyone, as it tells nothing.
    @r.get("/config/telemetry", summary="Telemetry consent, as adk web answers: always off here")
    async def telemetry_consent() -> dict[str, bool]:
        return {"telemetry": False}

    @r.post("/config/telemetry", summary="Set telemetry consent (adk web's route): only off is accepted")
    async def set_telemetry_consent(request: Request) -> dict[str, bool]:
        try:
            wanted = (await request.json()).get("telemetry")
        except (ValueError, AttributeError):
            wanted = None
        if wanted is not False:  # the UI keeps its switch off when this is refused
            raise ValidationError("telemetry: magec sends no usage telemetry; only false is accepted", field="telemetry")
        return {"telemetry": False}

    @r.get("/apps/{app_name}/app-info", summary="An app's root agent (as adk api_server answers)")
    async def app_info(app_name: str, request: Request) -> dict[str, Any]:
        rt = await runtime()
        app, _ = app_for(request, rt, app_name, must_be_valid=False)
        root = app.runner.agent if app.runner is not None else None
        info: dict[str, Any] = {"name": app_name, "rootAgentName": getattr(root, "name", app.id),
                                "description": app.description or app.name, "language": "python",
                                "isComputerUse": False}
        if isinstance(root, LlmAgent):
            # ADK's AgentInfo; tools are the plain ones (toolsets such as MCP are not opened for
            # this), the instruction is never shown (it is a provider, as ADK shows it too)
            tools = [t._get_declaration() for t in root.tools if isinstance(t, BaseTool)]
            info["agents"] = {root.name: {
                "name": root.name, "description": root.description, "instruction": "<InstructionProvider>",
                "tools": [{"function_declarations": [d.model_dump(mode="json", exclude_none=True)]}
                          for d in tools if d is not None],
                "sub_agents": []}}
        return info

    return r


#: how far ahead of this server's clock an imported event's time may be (clients' clocks drift)
_SKEW = 300.0

#: above this many events an import is checked, and its session rendered, in a worker thread
LONG_IMPORT = 256


async def import_events(raw: Any, app: App, limit: int) -> list[Event]:
    """Client events to restore a conversation (:func:`_import_events`), at most ``limit`` of them
    (``limits.maxImportEvents``; 0 = no limit; beyond it 400 naming ``events``). Checking one costs
    ~0.1 ms, so a long import is checked in a worker thread (magec.loop.off_loop): on the loop,
    the 25,000 a 2 MiB body holds stalled every request of the process for seconds."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationError("events: must be a list of events", field="events")
    if limit and len(raw) > limit:
        raise ValidationError(f"events: at most {limit} events may be imported in one request "
                              f"(limits.maxImportEvents); got {len(raw)}", field="events")
    if len(raw) > LONG_IMPORT:
        return await off_loop(_import_events, raw, app)
    return _import_events(raw, app)


def _import_events(raw: list[Any], app: App) -> list[Event]:
    """Client events to restore a conversation (ADK's rules: no actions, no long-running ids);
    authors other than ``user`` are the app's agent."""
    agent_name = next(iter(app.authors), app.id)
    out: list[Event] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValidationError(f"events[{i}]: must be an object", field=f"events[{i}]")
        data = {k: v for k, v in item.items() if k not in ("authorName", "id")}
        data["author"] = "user" if data.get("author") == "user" else agent_name
        try:
            event = Event.model_validate(data)
        except Exception as e:  # noqa: BLE001 - pydantic's text names the part
            raise ValidationError(f"events[{i}]: {str(e).splitlines()[0]}", field=f"events[{i}]") from None
        if event.long_running_tool_ids or event.actions != EventActions():
            raise ValidationError(f"events[{i}]: imported events may not carry actions or long-running ids",
                                  field=f"events[{i}]")
        if event.timestamp > time.time() + _SKEW:  # it would keep the session from retention forever
            raise ValidationError(f"events[{i}].timestamp: is in the future", field=f"events[{i}].timestamp")
        out.append(event)
    return out


def router(ctx: AppContext) -> APIRouter:
    """The user app's run API: ``/api/v1/agent/*`` with client-token auth."""
    r = GatedRouter(("/api/v1/agent/",))  # api/routing.py: other paths are turned away at once
    r.include_router(agent_router(ctx, authenticate, user_view=True), prefix="/api/v1/agent")
    return r


__all__ = ["agent_router", "router", "normalise", "OPEN", "AgentUnavailableError"]
