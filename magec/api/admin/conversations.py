"""Conversation audit routes (Magec's ``/api/v1/admin/conversations``), plus export and prune.

* ``GET /conversations`` — ``{"items", "total"}`` newest first; filters ``agentId``, ``source``,
  ``clientId``, ``perspective`` (Magec's) and ``userId``, ``from`` / ``to`` (ISO 8601 date or
  time), ``q`` (text search) (magec's); ``limit`` (default 30, 0 = all) and ``offset``.
* ``GET /conversations/stats`` — Magec's ``{total, bySources, byAgents}`` plus turn sums and
  breakdowns (same filters).
* ``GET /conversations/export?format=jsonl|csv`` — every turn matching the filters, streamed as a
  download (magec's).
* ``GET /conversations/{id}`` — ``{"conversation", "totalMessages"}`` with ``msgLimit`` (default
  50, 0 = all) / ``msgOffset``; the id names a perspective (user or admin) and ``?view=user|admin``
  overrides it: ``user`` is what the user saw, ``admin`` adds every step, tool call, backend, model,
  fallback, tokens and latency (and ``rawEvents``).
* ``GET /conversations/{id}/pair`` — ``{"pairId"}``, the other perspective's id.
* ``PUT /conversations/{id}/summary`` ``{"summary"}``, ``POST /conversations/{id}/reset-session``
  (deletes the ADK session; the log stays), ``DELETE /conversations/{id}`` (both perspectives),
  ``DELETE /conversations/clear``, ``POST /conversations/prune`` (applies the retention settings now).

Reads first write what this process has queued (:meth:`AuditRecorder.flush`), so a turn that just
ended is listed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.responses import StreamingResponse

from magec.audit import query
from magec.audit.recorder import AuditRecorder
from magec.audit.shape import conversation_json
from magec.context import AppContext
from magec.errors import NotFoundError, ValidationError

MAX_SUMMARY = 64 * 1024


class SummaryBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    summary: str = Field(default="", max_length=MAX_SUMMARY)


def _int(request: Request, name: str, default: int, maximum: int = 1_000_000) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name}: must be a whole number", field=name) from None
    if value < 0 or value > maximum:
        raise ValidationError(f"{name}: must be between 0 and {maximum}", field=name)
    return value


def _moment(request: Request, name: str, end: bool) -> datetime | None:
    raw = (request.query_params.get(name) or "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:  # a date: the whole day
            day = date.fromisoformat(raw)
            return datetime.combine(day, time.max if end else time.min, UTC)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{name}: must be an ISO 8601 date or date-time", field=name) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def filters(request: Request) -> query.Filters:
    p = request.query_params
    return query.Filters(
        agent_id=p.get("agentId", ""),
        source=p.get("source", ""),
        client_id=p.get("clientId", ""),
        user_id=p.get("userId", ""),
        since=_moment(request, "from", end=False),
        until=_moment(request, "to", end=True),
        q=(p.get("q") or p.get("search") or "").strip()[:200],
    )


def _perspective(request: Request, name: str) -> str:
    value = request.query_params.get(name, "")
    if value and value not in query.PERSPECTIVES:
        raise ValidationError(f"{name}: must be 'user' or 'admin'", field=name)
    return value


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/conversations", tags=["conversations"])
    engine = ctx.store.engine

    async def recorder() -> AuditRecorder | None:
        audit: AuditRecorder | None = ctx.extras.get("audit")
        if audit is not None:
            await audit.flush()
        return audit

    async def found(conversation_id: str) -> tuple[Any, str]:
        await recorder()
        hit = await query.find(engine, conversation_id)
        if hit is None:
            raise NotFoundError("conversation not found")
        return hit

    @r.get("", summary="Conversations, newest first (Magec's paginated list)")
    async def list_conversations(request: Request) -> dict[str, Any]:
        f = filters(request)
        perspective = _perspective(request, "perspective")
        limit, offset = _int(request, "limit", 30), _int(request, "offset", 0)
        await recorder()
        return await query.list_conversations(engine, f, perspective, limit, offset)

    @r.get("/stats", summary="Totals and breakdowns by source, agent, backend, model, surface, client")
    async def stats(request: Request) -> dict[str, Any]:
        f = filters(request)
        await recorder()
        return await query.stats(engine, f)

    @r.get("/export", summary="Download the filtered turns as JSON lines or CSV")
    async def export(request: Request) -> Response:
        f = filters(request)
        fmt = request.query_params.get("format", "jsonl")
        if fmt not in ("jsonl", "csv"):
            raise ValidationError("format: must be 'jsonl' or 'csv'", field="format")
        await recorder()
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
        return StreamingResponse(
            query.export(engine, f, fmt),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="conversations-{stamp}.{fmt}"'},
        )

    @r.delete("/clear", status_code=204, summary="Delete every conversation log (sessions are kept)")
    async def clear() -> Response:
        audit = await recorder()
        await query.clear(engine)
        if audit is not None:
            audit.forget()
        return Response(status_code=204)

    @r.post("/prune", summary="Apply settings.conversations (retentionDays, maxTurns) now")
    async def prune() -> dict[str, Any]:
        audit = await recorder()
        if audit is None or ctx.runtime is None:
            return {"deleted": 0}
        # the retention as of this request (one just changed on another replica must not prune more)
        settings = getattr((await ctx.runtime.fresh()).snapshot.settings, "conversations", None)
        return {"deleted": await audit.prune(settings)}

    @r.get("/{conversation_id}", summary="One conversation with its messages (?view=user|admin)")
    async def get_conversation(conversation_id: str, request: Request) -> dict[str, Any]:
        view = _perspective(request, "view")
        msg_limit, msg_offset = _int(request, "msgLimit", 50), _int(request, "msgOffset", 0)
        row, perspective = await found(conversation_id)
        return await query.detail(engine, row, view or perspective, msg_limit, msg_offset)

    @r.get("/{conversation_id}/pair", summary="The id of the other perspective (user <-> admin)")
    async def pair(conversation_id: str) -> dict[str, Any]:
        row, perspective = await found(conversation_id)
        return {"pairId": row.id if perspective == "admin" else row.admin_id}

    @r.delete("/{conversation_id}", status_code=204, summary="Delete a conversation log (both perspectives)")
    async def delete(conversation_id: str) -> Response:
        row, _ = await found(conversation_id)
        await query.delete(engine, row.id)
        audit: AuditRecorder | None = ctx.extras.get("audit")
        if audit is not None:
            audit.forget(row.id)
        return Response(status_code=204)

    @r.put("/{conversation_id}/summary", summary="Set a conversation's summary")
    async def summary(conversation_id: str, body: SummaryBody) -> dict[str, Any]:
        row, perspective = await found(conversation_id)
        await query.set_summary(engine, row.id, body.summary)
        row, perspective = await found(conversation_id)
        return conversation_json(row, perspective)

    @r.post("/{conversation_id}/reset-session", summary="Delete the conversation's session (the log stays)")
    async def reset_session(conversation_id: str) -> dict[str, Any]:
        row, _ = await found(conversation_id)
        if not row.app_id or not row.session_id:
            raise ValidationError("conversation has no agent or session ID")
        assert ctx.runtime is not None
        service = (await ctx.runtime.fresh()).session_service
        await service.delete_session(app_name=row.app_id, user_id=row.owner, session_id=row.session_id)
        return {"message": "Session reset successfully", "agentId": row.app_id, "sessionId": row.session_id}

    return r
