"""Flow runs: what a flow did in one turn, recorded off the hot path, and read back for ``/runs``.

Contract:
* A :class:`RunTrace` is opened for every turn of a flow (tree or graph) and sees the turn's
  events (:meth:`RunTrace.see`: a few dict updates, no I/O). An *activation* is one execution of
  one node, keyed by the event's ``nodeInfo.path`` (``flow@1/route@2``: the second time the
  router ran). Its ``startedAt`` is the earliest ADK timestamp of its events (ADK stamps an agent's
  event when the model call starts), ``endedAt`` when its last event reached the runtime; its
  ``routes`` are the routes a router took (``actions.route``); its agent, backend and model are the
  ones that answered (from the usage rows of the turn, so a fallback is named), else the agent's
  configured ones; its tokens are the usage rows recorded between its start and end.
* :meth:`RunTrace.row` is the ``flow_runs`` row (path and activations as JSON), written by a
  :class:`~magec.costs.writer.BatchWriter` when the turn ends (also when the client hung up:
  ``status: "cancelled"``).
* :func:`list_runs` / :func:`get_run` answer ``GET /runs`` and ``GET /runs/{id}`` in Magec's
  shape ``{runId, appName, sessionId, userId, clientId, source, startedAt, endedAt, status,
  error, eventCount}`` (+ ``activations`` in the detail), plus magec's ``flowName``, ``errorCode``,
  ``durationMs``, ``path``, ``inputTokens`` and ``outputTokens``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.costs.tables import flow_runs
from magec.store.tables import as_utc

PREVIEW = 200
STATUSES = ("completed", "failed", "cancelled")


@dataclass
class Activation:
    path: str
    node: str
    seq: int
    started: float
    ended: float
    branch: str = ""
    events: int = 0
    routes: list[str] = field(default_factory=list)
    output: str = ""
    error: str = ""
    agent_id: str = ""
    agent_name: str = ""
    backend_id: str = ""
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "node": self.node,
            "seq": self.seq,
            "path": self.path,
            "startedAt": _iso(self.started),
            "endedAt": _iso(self.ended),
            "durationMs": round(max(self.ended - self.started, 0.0) * 1000, 1),
            "events": self.events,
            "routes": self.routes,
            "branch": self.branch,
            "outputPreview": self.output[:PREVIEW],
            "error": self.error,
        }
        if self.agent_id:
            data.update(agentId=self.agent_id, agentName=self.agent_name, backendId=self.backend_id,
                        model=self.model, inputTokens=self.input_tokens, outputTokens=self.output_tokens)
        return data


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _segment(path: str) -> tuple[str, int]:
    last = path.rsplit("/", 1)[-1]
    name, _, seq = last.partition("@")
    return name, int(seq) if seq.isdigit() else 1


class RunTrace:
    """One flow turn being observed; ``names`` maps ADK node names to Magec node ids (graph flows)."""

    def __init__(self, *, app: Any, snapshot: Any, user_id: str, session_id: str, client_id: str,
                 source: str = "") -> None:
        self.id = str(uuid.uuid4())
        self.app_id = app.id
        self.app_name = app.name or app.id
        self.authors: dict[str, tuple[str, str, bool]] = dict(app.authors)
        self.snapshot = snapshot
        self.user_id = user_id
        self.session_id = session_id
        self.client_id = client_id
        self.source = source
        self.started = time.time()
        self.ended = self.started
        self.names = _graph_names(snapshot, app.id)
        self.activations: dict[str, Activation] = {}
        self.usage: list[tuple[float, dict[str, Any]]] = []
        self.event_count = 0
        self.status = "cancelled"  # until the turn ends normally
        self.error_code = ""
        self.error = ""

    def see(self, te: Any) -> None:
        now = time.time()
        self.event_count += 1
        event = te.event
        if event is None:  # magec's own error event ends the turn
            self.status, self.error_code, self.error = "failed", te.error_code or "", te.error_message or ""
            return
        if te.is_user:
            return
        path = event.node_info.path if event.node_info is not None else ""
        if not path:
            return
        act = self.activations.get(path)
        if act is None:
            name, seq = _segment(path)
            started = min(float(event.timestamp or now), now)
            act = self.activations[path] = Activation(path, self.names.get(name, name), seq, started, now,
                                                      event.branch or "")
            if name in self.authors:
                act.agent_id, act.agent_name, _ = self.authors[name]
        act.events += 1
        act.ended = now
        route = event.actions.route if event.actions is not None else None
        if route:
            act.routes.extend([route] if isinstance(route, str) else [str(r) for r in route])
        if event.error_code or event.error_message:
            act.error = event.error_message or event.error_code or ""
        if not event.partial:
            text = te.text
            if text:
                act.output = text
            elif event.output is not None and not act.output:
                out = event.output
                act.output = out if isinstance(out, str) else json.dumps(out, default=str)[:PREVIEW]

    def usage_row(self, row: dict[str, Any]) -> None:
        self.usage.append((time.time(), row))

    def finish(self, status: str | None = None) -> None:
        self.ended = time.time()
        if status is not None:
            self.status = status
        elif self.status != "failed":
            self.status = "completed"
        self._attribute_usage()

    def _attribute_usage(self) -> None:
        by_agent: dict[str, list[Activation]] = {}
        for act in self.activations.values():
            if act.agent_id:
                by_agent.setdefault(act.agent_id, []).append(act)
        for at, row in self.usage:
            acts = by_agent.get(row["agent_id"])
            if not acts:
                continue
            act = next((a for a in acts if a.started - 0.05 <= at <= a.ended + 0.05), acts[0])
            act.input_tokens += int(row["input_tokens"])
            act.output_tokens += int(row["output_tokens"])
            act.backend_id, act.model = row["backend_id"], row["model"]
        agents = getattr(self.snapshot, "agents", {})
        for act in self.activations.values():
            if act.agent_id and not act.backend_id and act.agent_id in agents:
                llm = agents[act.agent_id].llm
                act.backend_id, act.model = llm.backend, llm.model

    def ordered(self) -> list[Activation]:
        return sorted(self.activations.values(), key=lambda a: (a.started, a.ended))

    def row(self) -> dict[str, Any]:
        acts = self.ordered()
        return {
            "id": self.id,
            "app_id": self.app_id,
            "app_name": self.app_name,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "client_id": self.client_id,
            "source": self.source[:32],
            "status": self.status,
            "error_code": self.error_code,
            "error": self.error,
            "started_at": datetime.fromtimestamp(self.started, UTC),
            "ended_at": datetime.fromtimestamp(self.ended, UTC),
            "event_count": self.event_count,
            "input_tokens": sum(int(r["input_tokens"]) for _, r in self.usage),
            "output_tokens": sum(int(r["output_tokens"]) for _, r in self.usage),
            "path": json.dumps([a.node for a in acts]),
            "activations": json.dumps([a.to_json() for a in acts]),
        }


def _graph_names(snapshot: Any, flow_id: str) -> dict[str, str]:
    """ADK node name -> Magec node id of a graph flow's top-level nodes (the names
    :mod:`magec.flows.graph` gives: the id made an identifier, deduplicated)."""
    flow = getattr(snapshot, "flows", {}).get(flow_id)
    if flow is None or flow.root is not None:
        return {}
    from magec.flows.graph import _identifier

    taken: set[str] = set()
    return {_identifier(n.id, taken): n.id for n in flow.nodes}


# -- reading -------------------------------------------------------------------------------------
def _to_json(r: Any, *, detail: bool) -> dict[str, Any]:
    started, ended = as_utc(r.started_at), as_utc(r.ended_at)
    data: dict[str, Any] = {
        "runId": r.id,
        "appName": r.app_id,
        "flowName": r.app_name,
        "sessionId": r.session_id,
        "userId": r.user_id,
        "clientId": r.client_id,
        "source": r.source,
        "startedAt": started.isoformat().replace("+00:00", "Z"),
        "endedAt": ended.isoformat().replace("+00:00", "Z"),
        "durationMs": round((ended - started).total_seconds() * 1000, 1),
        "status": r.status,
        "errorCode": r.error_code,
        "error": r.error,
        "eventCount": r.event_count,
        "inputTokens": r.input_tokens,
        "outputTokens": r.output_tokens,
        "path": json.loads(r.path or "[]"),
    }
    if detail:
        data["activations"] = json.loads(r.activations or "[]")
    return data


async def list_runs(engine: AsyncEngine, *, app_id: str | None = None, status: str | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    limit: int = 30, offset: int = 0) -> dict[str, Any]:
    where: list[Any] = []
    if app_id:
        where.append(flow_runs.c.app_id == app_id)
    if status:
        where.append(flow_runs.c.status == status)
    if since is not None:
        where.append(flow_runs.c.started_at >= since)
    if until is not None:
        where.append(flow_runs.c.started_at < until)
    cols = [c for c in flow_runs.c if c.name != "activations"]
    q = sa.select(*cols).where(*where).order_by(flow_runs.c.started_at.desc(), flow_runs.c.id)
    async with engine.connect() as conn:
        total = (await conn.execute(sa.select(sa.func.count()).select_from(flow_runs).where(*where))).scalar_one()
        rows = (await conn.execute(q.limit(limit).offset(offset))).all()
    return {"items": [_to_json(r, detail=False) for r in rows], "total": int(total)}


async def get_run(engine: AsyncEngine, run_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(flow_runs).where(flow_runs.c.id == run_id))).first()
    return None if row is None else _to_json(row, detail=True)


async def delete_runs(engine: AsyncEngine, *, before: datetime) -> int:
    """Delete the runs that started before ``before``; how many."""
    async with engine.begin() as conn:
        result = await conn.execute(flow_runs.delete().where(flow_runs.c.started_at < before))
    return int(result.rowcount or 0)
