"""``GET /api/v1/client/info``: who this device is paired as and what it may talk to (Magec's shape).

* No ``Authorization`` header → ``{"paired": false}``; while no client exists (open mode) also
  ``"openMode": true`` and every agent and flow in ``allowedAgents`` (our Voice UI runs unpaired
  then; Magec's own UI only reads ``paired``).
* A valid client token → ``{"paired": true, "name", "defaultAgent", "allowedAgents": [...]}``,
  ``defaultAgent`` being the first allowed entry; an invalid or disabled one → 401 (Magec's UI then
  forgets the token).
* ``allowedAgents`` entries are ``{"id", "name", "type": "agent"|"flow", "voice": {"stt", "tts"}}``;
  a flow adds ``"agents"``: its member agents (breadth-first, each once) with ``responseAgent`` and
  their own ``voice``. ``voice`` (ours, not Magec's) says whether an agent has speech-to-text and
  text-to-speech configured, so a UI can say "this agent has no voice" before trying.

With a valid token the answer also sets an ``HttpOnly`` ``SameSite=Strict`` cookie scoped to
``/api/v1/voice/events`` holding the token: browsers cannot put headers on a WebSocket, and
Magec's UI sends none, so this is how its realtime voice channel authenticates. A request without
a token clears that cookie (unpairing). The cookie is ``Secure`` whenever the page is served over
``https`` — also behind a TLS-terminating proxy that reaches magec over plain HTTP, when
``server.publicURL`` names the ``https`` address (:func:`magec.api.guard.own_origin`): a cookie
without it is sent to the same host's plain ``http://`` port too, token and all.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from magec.api.auth import bearer
from magec.api.clients import caller_for_token
from magec.api.guard import normalise_origin, own_origin
from magec.context import AppContext
from magec.resources import Agent, Flow
from magec.runtime.build import Runtime

#: the cookie carrying the client token to the voice-events WebSocket (see module docstring)
VOICE_COOKIE = "magec_voice_token"
VOICE_COOKIE_PATH = "/api/v1/voice/events"


def _voice(agent: Agent) -> dict[str, bool]:
    return {"stt": bool(agent.transcription.backend), "tts": bool(agent.tts.backend)}


def _members(flow: Flow) -> tuple[list[str], set[str]]:
    """A flow's member agent ids (breadth-first, each once) and its response agents."""
    return flow.agent_ids(), set(flow.response_agent_ids())


def summary(rt: Runtime, app_id: str) -> dict[str, Any] | None:
    """The Magec ``AgentSummary`` of an agent or flow id, or None if it does not exist."""
    snap = rt.snapshot
    agent = snap.agents.get(app_id)
    if agent is not None:
        return {"id": agent.id, "name": agent.name, "type": "agent", "voice": _voice(agent)}
    flow = snap.flows.get(app_id)
    if flow is None:
        return None
    ids, responders = _members(flow)
    members = []
    for aid in ids:
        member = snap.agents.get(aid)
        if member is not None:
            entry: dict[str, Any] = {"id": member.id, "name": member.name, "type": "agent", "voice": _voice(member)}
            if aid in responders:
                entry["responseAgent"] = True
            members.append(entry)
    return {
        "id": flow.id,
        "name": flow.name,
        "type": "flow",
        "agents": members,
        "voice": {"stt": any(m["voice"]["stt"] for m in members), "tts": any(m["voice"]["tts"] for m in members)},
    }


def _served_over_https(request: Request, public_url: str) -> bool:
    """Whether the browser reached this page over ``https``: the scheme the request arrived with
    (a trusted proxy's ``X-Forwarded-Proto``), or ``server.publicURL``'s when ``Host`` names it."""
    public = normalise_origin(public_url) if public_url else ""
    return own_origin(request.scope, request.headers.get("host", ""), public).startswith("https://")


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(tags=["client"])

    @r.get("/api/v1/client/info", summary="Pairing status, default agent and allowed agents of this client")
    async def client_info(request: Request) -> JSONResponse:
        assert ctx.runtime is not None
        rt = await ctx.runtime.fresh()
        token = bearer(request)
        if not token or not rt.snapshot.client_raw:
            body: dict[str, Any] = {"paired": False}
            if not rt.snapshot.client_raw:
                ids = [*rt.snapshot.agents, *rt.snapshot.flows]
                body["openMode"] = True
                body["allowedAgents"] = [s for s in (summary(rt, i) for i in ids) if s is not None]
                body["defaultAgent"] = ids[0] if ids else ""
            response = JSONResponse(body)
            if request.cookies.get(VOICE_COOKIE):
                response.delete_cookie(VOICE_COOKIE, path=VOICE_COOKIE_PATH)
            return response
        caller = caller_for_token(rt, token)  # AuthError → 401
        assert caller.client_id is not None
        raw = rt.snapshot.client_raw.get(caller.client_id, {})
        allowed = [str(a) for a in raw.get("allowedAgents") or []]
        direct = (raw.get("config") or {}).get("direct") or {}
        default = direct.get("defaultAgent") if isinstance(direct, dict) else None
        response = JSONResponse(
            {
                "paired": True,
                "name": str(raw.get("name") or caller.client_id),
                "defaultAgent": default if default in allowed else (allowed[0] if allowed else ""),
                "allowedAgents": [s for s in (summary(rt, i) for i in allowed) if s is not None],
            }
        )
        response.set_cookie(
            VOICE_COOKIE,
            token,
            path=VOICE_COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=_served_over_https(request, ctx.config.public_url),
        )
        return response

    return r
