"""Reading the conversation audit: list, stats, detail, delete, export (the Admin API's queries).

Contract: every function takes the engine and a :class:`Filters` (all optional, AND-ed):
``agent_id`` (the conversation's agent or flow, or an agent that answered inside it), ``source``,
``client_id``, ``user_id``, ``since`` / ``until`` (conversations active in that range) and ``q``
(case-insensitive text in the user's messages, the answers, the preview or the summary).
Conversations come newest first (by last activity). Magec's two perspectives of a conversation
are its two ids (:mod:`magec.audit.tables`); a list without a ``perspective`` filter has both,
user first, exactly as Magec lists them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.audit.shape import conversation_json, iso, messages
from magec.audit.tables import audit_conversations as conv_t
from magec.audit.tables import audit_turns as turn_t
from magec.csv_cells import safe_cell
from magec.errors import ClientGoneError

PERSPECTIVES = ("user", "admin")


@dataclass(frozen=True)
class Filters:
    agent_id: str = ""
    source: str = ""
    client_id: str = ""
    user_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    q: str = ""

    def where(self) -> list[Any]:
        out: list[Any] = []
        if self.agent_id:
            # an agent inside a flow: it answered the turn, or it is the author of one of its steps
            author = '%"author": ' + json.dumps(self.agent_id).replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
            inner = sa.select(turn_t.c.id).where(
                turn_t.c.conversation_id == conv_t.c.id,
                sa.or_(turn_t.c.agent_id == self.agent_id, turn_t.c.steps.like(author, escape="\\")),
            )
            out.append(sa.or_(conv_t.c.app_id == self.agent_id, inner.exists()))
        if self.source:
            out.append(conv_t.c.source == self.source)
        if self.client_id:
            out.append(conv_t.c.client_id == self.client_id)
        if self.user_id:
            out.append(conv_t.c.user_id == self.user_id)
        if self.since is not None:
            out.append(conv_t.c.ended_at >= self.since)
        if self.until is not None:
            out.append(conv_t.c.started_at <= self.until)
        if self.q:
            escaped = self.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"

            def like(col: Any) -> Any:
                return sa.func.lower(col).like(pattern, escape="\\")

            hit = sa.select(turn_t.c.id).where(
                turn_t.c.conversation_id == conv_t.c.id, sa.or_(like(turn_t.c.user_text), like(turn_t.c.answer))
            )
            out.append(sa.or_(like(conv_t.c.preview), like(conv_t.c.summary), like(conv_t.c.user_name), hit.exists()))
        return out


async def _totals(conn: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    """magec's counters per conversation: turns, tokens, errors, tool calls, fallbacks."""
    if not ids:
        return {}
    q = sa.select(
        turn_t.c.conversation_id,
        sa.func.count(),
        sa.func.sum(turn_t.c.input_tokens),
        sa.func.sum(turn_t.c.output_tokens),
        _failed(),
        sa.func.sum(turn_t.c.tool_calls),
        sa.func.sum(sa.case((turn_t.c.fallback > 0, 1), else_=0)),
        _cancelled(),
    ).where(turn_t.c.conversation_id.in_(ids)).group_by(turn_t.c.conversation_id)
    return {
        r[0]: {"turns": int(r[1]), "inputTokens": int(r[2] or 0), "outputTokens": int(r[3] or 0),
               "errors": int(r[4] or 0), "toolCalls": int(r[5] or 0), "fallbacks": int(r[6] or 0),
               "cancelled": int(r[7] or 0)}
        for r in (await conn.execute(q)).all()
    }


def _failed() -> Any:
    """Turns that failed: an error code other than ``cancelled`` (a client that hung up is not the
    agent's failure, and counted apart: :func:`_cancelled`)."""
    return sa.func.sum(sa.case(((turn_t.c.error_code != "") & (turn_t.c.error_code != ClientGoneError.code), 1),
                               else_=0))


def _cancelled() -> Any:
    """Turns whose client hung up (or magec stopped) before the answer was complete."""
    return sa.func.sum(sa.case((turn_t.c.error_code == ClientGoneError.code, 1), else_=0))


async def user_names(engine: AsyncEngine, owners: list[str]) -> dict[str, str]:
    """The display name the conversation audit last recorded for each session owner
    (``<clientId>:<userId>``) that has one: how other pages (Memory) show a bot's user."""
    wanted = sorted(set(owners))
    out: dict[str, str] = {}
    async with engine.connect() as conn:
        for i in range(0, len(wanted), 500):
            q = (sa.select(conv_t.c.owner, conv_t.c.user_name)
                 .where(conv_t.c.owner.in_(wanted[i : i + 500]), conv_t.c.user_name != "")
                 .order_by(conv_t.c.ended_at))
            for owner, name in (await conn.execute(q)).all():
                out[str(owner)] = str(name)  # the newest conversation's name wins
    return out


async def list_conversations(
    engine: AsyncEngine, f: Filters, perspective: str = "", limit: int = 30, offset: int = 0
) -> dict[str, Any]:
    """Magec's ``PaginatedResult[Conversation]``: ``{"items": [...], "total": n}`` (``limit`` 0 = all)."""
    where = f.where()
    each = (perspective,) if perspective in PERSPECTIVES else PERSPECTIVES
    async with engine.connect() as conn:
        count = int((await conn.execute(sa.select(sa.func.count()).select_from(conv_t).where(*where))).scalar_one())
        # paging over (conversation, perspective) pairs without materialising them
        n = len(each)
        first, skip = divmod(offset, n)
        q = sa.select(conv_t).where(*where).order_by(conv_t.c.ended_at.desc(), conv_t.c.id).offset(first)
        if limit:
            q = q.limit((skip + limit + n - 1) // n)
        rows = (await conn.execute(q)).all()
        totals = await _totals(conn, [r.id for r in rows])
    items = [conversation_json(r, p, totals.get(r.id, _ZERO)) for r in rows for p in each][skip:]
    return {"items": items[:limit] if limit else items, "total": count * n}


_ZERO = {"turns": 0, "inputTokens": 0, "outputTokens": 0, "errors": 0, "toolCalls": 0, "fallbacks": 0, "cancelled": 0}


async def find(engine: AsyncEngine, public_id: str) -> tuple[Any, str] | None:
    """(stored conversation, perspective) of a public id, or None."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(sa.select(conv_t).where(sa.or_(conv_t.c.id == public_id, conv_t.c.admin_id == public_id)))
        ).first()
    if row is None:
        return None
    return row, ("admin" if row.admin_id == public_id else "user")


async def detail(engine: AsyncEngine, row: Any, perspective: str, msg_limit: int, msg_offset: int) -> dict[str, Any]:
    """Magec's ``{"conversation": {..., "messages", "rawEvents"?}, "totalMessages"}``: messages oldest
    first, the latest ``msg_limit`` of them once ``msg_offset`` newest are skipped (0 = all)."""
    async with engine.connect() as conn:
        turns = (
            await conn.execute(sa.select(turn_t).where(turn_t.c.conversation_id == row.id).order_by(turn_t.c.at, turn_t.c.id))
        ).all()
        totals = await _totals(conn, [row.id])
    msgs, raw = messages(list(turns), perspective)
    total = len(msgs)
    if msg_limit:
        end = max(0, total - msg_offset)
        msgs = msgs[max(0, end - msg_limit) : end]
        raw_end = max(0, len(raw) - msg_offset)
        raw = raw[max(0, raw_end - msg_limit) : raw_end]
    out = conversation_json(row, perspective, totals.get(row.id, _ZERO))
    out["messages"] = msgs
    if perspective == "admin":
        out["rawEvents"] = raw
    return {"conversation": out, "totalMessages": total}


async def delete(engine: AsyncEngine, row_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.delete(turn_t).where(turn_t.c.conversation_id == row_id))
        await conn.execute(sa.delete(conv_t).where(conv_t.c.id == row_id))


async def clear(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.delete(turn_t))
        await conn.execute(sa.delete(conv_t))


async def set_summary(engine: AsyncEngine, row_id: str, summary: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.update(conv_t).where(conv_t.c.id == row_id).values(summary=summary))


async def stats(engine: AsyncEngine, f: Filters) -> dict[str, Any]:
    """Magec's ``{total, bySources, byAgents}`` plus magec's turn-level sums and breakdowns."""
    where = f.where()
    convs = sa.select(conv_t.c.id).where(*where).scalar_subquery() if where else None
    turn_where = [turn_t.c.conversation_id.in_(convs)] if convs is not None else []
    async with engine.connect() as conn:
        total = int((await conn.execute(sa.select(sa.func.count()).select_from(conv_t).where(*where))).scalar_one())
        by_source: dict[Any, Any] = dict(
            (await conn.execute(sa.select(conv_t.c.source, sa.func.count()).where(*where).group_by(conv_t.c.source))).all()
        )
        by_agent: dict[Any, Any] = dict(
            (await conn.execute(
                sa.select(conv_t.c.app_name, sa.func.count()).where(*where).group_by(conv_t.c.app_name)
            )).all()
        )
        sums = (await conn.execute(
            sa.select(
                sa.func.count(), sa.func.sum(turn_t.c.input_tokens), sa.func.sum(turn_t.c.output_tokens),
                _failed(),
                sa.func.sum(sa.case((turn_t.c.fallback > 0, 1), else_=0)),
                sa.func.sum(turn_t.c.tool_calls), sa.func.avg(turn_t.c.latency_ms), _cancelled(),
            ).where(*turn_where)
        )).one()

        async def turns_by(col: Any) -> dict[str, int]:
            q = sa.select(col, sa.func.count()).where(*turn_where, col != "").group_by(col)
            return {str(k): int(v) for k, v in (await conn.execute(q)).all()}

        by_backend = await turns_by(turn_t.c.backend_id)
        by_model = await turns_by(turn_t.c.model)
        by_surface = await turns_by(turn_t.c.surface)
        by_client = await turns_by(turn_t.c.client_id)
    return {
        "total": total,
        "bySources": {str(k): int(v) for k, v in by_source.items()},
        "byAgents": {str(k): int(v) for k, v in by_agent.items()},
        "turns": int(sums[0] or 0),
        "inputTokens": int(sums[1] or 0),
        "outputTokens": int(sums[2] or 0),
        "errors": int(sums[3] or 0),
        "cancelled": int(sums[7] or 0),
        "fallbacks": int(sums[4] or 0),
        "toolCalls": int(sums[5] or 0),
        "avgLatencyMs": round(float(sums[6]), 1) if sums[6] is not None else None,
        "byBackends": by_backend,
        "byModels": by_model,
        "bySurfaces": by_surface,
        "byClients": by_client,
    }


#: the columns of an export, in order (one row per turn)
EXPORT_COLUMNS = (
    "conversationId", "turnId", "at", "source", "surface", "clientId", "userId", "agentId", "agentName",
    "flowId", "sessionId", "backend", "model", "fallback", "inputTokens", "outputTokens", "latencyMs",
    "toolCalls", "errorCode", "errorMessage", "userMessage", "answer",
)


async def export(engine: AsyncEngine, f: Filters, fmt: str, chunk: int = 500) -> AsyncIterator[str]:
    """The filtered turns as JSON lines (each with its ``steps``) or CSV, streamed in chunks."""
    where = f.where()
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf).writerow(EXPORT_COLUMNS)
        yield buf.getvalue()
    last: tuple[Any, str] | None = None
    while True:
        q = sa.select(turn_t).order_by(turn_t.c.at, turn_t.c.id).limit(chunk)
        if where:
            q = q.where(turn_t.c.conversation_id.in_(sa.select(conv_t.c.id).where(*where)))
        if last is not None:
            q = q.where(sa.or_(turn_t.c.at > last[0], sa.and_(turn_t.c.at == last[0], turn_t.c.id > last[1])))
        async with engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        if not rows:
            return
        last = (rows[-1].at, rows[-1].id)
        buf = io.StringIO()
        writer = csv.writer(buf) if fmt == "csv" else None
        for t in rows:
            item = {
                "conversationId": t.conversation_id, "turnId": t.id, "at": iso(t.at), "source": t.source,
                "surface": t.surface, "clientId": t.client_id, "userId": t.user_id, "agentId": t.agent_id,
                "agentName": t.agent_name, "flowId": t.app_id if t.app_kind == "flow" else "",
                "sessionId": t.session_id, "backend": t.backend_id, "model": t.model, "fallback": t.fallback,
                "inputTokens": t.input_tokens, "outputTokens": t.output_tokens, "latencyMs": t.latency_ms,
                "toolCalls": t.tool_calls, "errorCode": t.error_code, "errorMessage": t.error_message,
                "userMessage": t.user_text, "answer": t.answer,
            }
            if writer is not None:
                # user ids, messages and answers are typed by users and agents: no formulas
                writer.writerow([safe_cell(item[c]) for c in EXPORT_COLUMNS])
            else:
                item["voice"] = bool(t.voice)
                item["steps"] = json.loads(t.steps or "[]")
                buf.write(json.dumps(item) + "\n")
        yield buf.getvalue()
        if len(rows) < chunk:
            return
