"""ADK-shaped run API: ``/api/v1/agent/*`` (list-apps, run, run_sse, sessions).

Request bodies are accepted in camelCase and snake_case (Magec issue #26); values inside
``stateDelta`` / ``state`` are user data and keep their keys. The same routes are mounted on the
admin app under ``/api/v1/admin/agent`` for the playground (admin auth instead of client tokens).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from google.adk.sessions.base_session_service import GetSessionConfig
from sse_starlette import EventSourceResponse

from magec.agents.apps import App
from magec.api.clients import OPEN, Caller, authenticate, check_client_state
from magec.api.errors import json_body
from magec.api.limits import until_disconnected
from magec.context import AppContext
from magec.errors import AgentUnavailableError, NotFoundError, ValidationError
from magec.runtime.build import Runtime
from magec.runtime.run import TurnEvent, ensure_session, parse_message, require_app, run_turn, turn_event

_DATA_KEYS = {"state", "stateDelta", "args", "response"}

#: documented request body of /run and /run_sse (read by hand, so FastAPI cannot infer it); it also
#: lets generated test corpora reach the body validation
RUN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["appName", "userId", "newMessage"],
                    "properties": {
                        "appName": {"type": "string", "description": "agent or flow id (or name)"},
                        "userId": {"type": "string"},
                        "sessionId": {"type": "string", "description": "created when absent"},
                        "newMessage": {
                            "type": "object",
                            "properties": {
                                "role": {"type": "string"},
                                "parts": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                        "stateDelta": {"type": "object"},
                        "streaming": {"type": "boolean"},
                    },
                }
            }
        },
    }
}


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

    async def runtime() -> Runtime:
        assert ctx.runtime is not None
        return await ctx.runtime.fresh()

    def app_for(
        request: Request, rt: Runtime, app_name: str, *, must_be_valid: bool = True
    ) -> tuple[App, Caller]:
        caller = caller_of(request, rt)
        app = rt.find(app_name)
        if app is not None:
            caller.check(app.id)
        if must_be_valid:
            return require_app(rt, app_name), caller
        if app is None:
            require_app(rt, app_name)  # raises the 404
        assert app is not None
        return app, caller

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
        return [a.id for a in apps]

    async def _prepare(request: Request) -> tuple[Runtime, App, str, str, Any, bool, dict[str, Any] | None]:
        body = normalise(await json_body(request))
        if not isinstance(body, dict):
            raise ValidationError("request body must be a JSON object")
        for field in ("appName", "userId"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise ValidationError(f"{field}: is required", field=field)
        rt = await runtime()
        app, caller = app_for(request, rt, body["appName"])
        user = caller.owner_key(body["userId"])
        message = parse_message(body.get("newMessage"))
        state_delta = client_state(body.get("stateDelta"), "stateDelta")
        # A session id that another client uses is a different session here (its key holds the
        # owner): the run starts the caller's own conversation and reads or writes nothing of the
        # other one, so the answer is no oracle for which ids exist.
        session_id = await ensure_session(rt, app, user, body.get("sessionId") or None)
        return rt, app, user, session_id, message, bool(body.get("streaming")), state_delta

    @r.post("/run", summary="Run one turn; returns the event array", openapi_extra=RUN_BODY)
    async def run(request: Request) -> list[dict[str, Any]]:
        rt, app, user, sid, message, streaming, delta = await _prepare(request)

        async def turn() -> list[TurnEvent]:
            return [e async for e in run_turn(rt, app, user, sid, message, streaming=False, state_delta=delta)]

        # a client that hangs up cancels the turn (and its provider calls)
        events = await until_disconnected(request, turn())
        return [e.to_json() for e in events if e.visible or not user_view]

    @r.post(
        "/run_sse",
        summary="Run one turn as Server-Sent Events (token-level partials when streaming)",
        openapi_extra=RUN_BODY,
    )
    async def run_sse(request: Request) -> Response:
        rt, app, user, sid, message, streaming, delta = await _prepare(request)

        async def stream() -> AsyncIterator[dict[str, str]]:
            async for event in run_turn(rt, app, user, sid, message, streaming=streaming, state_delta=delta):
                if event.visible or not user_view:
                    yield {"data": json.dumps(event.to_json())}

        return EventSourceResponse(stream(), ping=15)

    base = "/apps/{app_name}/users/{user_id}/sessions"

    @r.get(base, summary="List sessions")
    async def list_sessions(app_name: str, user_id: str, request: Request) -> list[dict[str, Any]]:
        rt = await runtime()
        app, caller = app_for(request, rt, app_name, must_be_valid=False)
        resp = await rt.session_service.list_sessions(app_name=app.id, user_id=caller.owner_key(user_id))
        return [
            {"id": s.id, "appName": s.app_name, "userId": caller.shown(s.user_id),
             "lastUpdateTime": s.last_update_time}
            for s in resp.sessions
        ]

    if not user_view:

        @r.get("/apps/{app_name}/sessions", summary="Admin: every session of an app, of every client and user")
        async def list_all_sessions(app_name: str, request: Request) -> list[dict[str, Any]]:
            rt = await runtime()
            app, _ = app_for(request, rt, app_name, must_be_valid=False)
            resp = await rt.session_service.list_sessions(app_name=app.id, user_id=None)
            return [
                {"id": s.id, "appName": s.app_name, "userId": s.user_id, "lastUpdateTime": s.last_update_time}
                for s in resp.sessions
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
        state = client_state((body or {}).get("state"), "state")
        sid = await ensure_session(rt, app, user, session_id, state)
        session = await rt.session_service.get_session(app_name=app.id, user_id=user, session_id=sid)
        return session_json(session, app, user_view=user_view, caller=caller)

    @r.post(base, summary="Create a session with a generated id")
    async def create_session(app_name: str, user_id: str, request: Request) -> dict[str, Any]:
        return await _create(request, app_name, user_id, None)

    @r.post(base + "/{session_id}", summary="Create a session, or return it unchanged when it exists")
    async def create_named(app_name: str, user_id: str, session_id: str, request: Request) -> dict[str, Any]:
        return await _create(request, app_name, user_id, session_id)

    @r.get(base + "/{session_id}", summary="Session with its history")
    async def get_session(app_name: str, user_id: str, session_id: str, request: Request) -> dict[str, Any]:
        rt = await runtime()
        app, caller = app_for(request, rt, app_name, must_be_valid=False)
        session = await rt.session_service.get_session(
            app_name=app.id, user_id=caller.owner_key(user_id), session_id=session_id
        )
        if session is None:
            raise NotFoundError(f"session {session_id!r} not found")
        return session_json(session, app, user_view=user_view, caller=caller)

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

    return r


def router(ctx: AppContext) -> APIRouter:
    """The user app's run API: ``/api/v1/agent/*`` with client-token auth."""
    r = APIRouter()
    r.include_router(agent_router(ctx, authenticate, user_view=True), prefix="/api/v1/agent")
    return r


__all__ = ["agent_router", "router", "normalise", "OPEN", "AgentUnavailableError"]
