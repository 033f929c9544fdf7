"""From a finished turn (the events :func:`magec.runtime.run.run_turn` yielded) to stored rows,
and from stored rows to Magec's conversation JSON.

Runs in the audit's background writer, never on a turn's path. Every text that is stored (the
user's message, answers, tool arguments and results, error messages) goes through
:func:`magec.redact.redact` first, and big values are capped (:data:`MAX_TEXT`, :data:`MAX_VALUE`).

A stored turn's ``steps`` is a JSON list, one item per model output of the turn (agents inside a
flow each add theirs): ``author`` / ``authorName`` (the magec agent), ``visible`` (whether the user
saw it), ``text``, ``toolCalls`` (``name``, ``args``, ``result``), ``backend`` / ``backendName`` /
``model`` (the link that answered), ``fallback`` (Magec's ``customMetadata.magec.fallback``, or
absent for the primary), ``inputTokens`` / ``outputTokens``, ``node`` (the flow step) and
``errorCode`` / ``errorMessage``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from magec.backends.fallback import answered_by
from magec.errors import ClientGoneError
from magec.redact import redact

#: longest stored text (user message, answer, one step's text)
MAX_TEXT = 64 * 1024
#: longest stored tool argument / result, as JSON
MAX_VALUE = 8 * 1024
PREVIEW = 120


@dataclass(slots=True)
class Probe:
    """What the audit keeps of one running turn: references only, no copying or serialising
    (that is the writer's job). Filled by :meth:`magec.audit.recorder.AuditRecorder.begin`."""

    snapshot: Any
    app_id: str
    app_kind: str
    app_name: str
    owner: str
    session_id: str
    message: Any
    surface: str
    source: str
    voice: bool
    started: datetime
    t0: float
    #: the user's display name from the platform (a bot's ``@alice``), "" when unknown
    user_name: str = ""
    events: list[Any] = field(default_factory=list)
    #: the client left before the turn ended (:func:`magec.runtime.run.run_turn`)
    cancelled: bool = False
    first: float | None = None
    ended: float = 0.0
    recorder: Any = None

    def see(self, event: Any) -> None:
        """One event of the turn (a :class:`~magec.runtime.run.TurnEvent`); partials are skipped."""
        if self.first is None:
            self.first = time.perf_counter()
        if not event.partial:
            self.events.append(event)

    def left(self) -> None:
        """The client left before the turn ended (called before :meth:`finish`)."""
        self.cancelled = True

    def finish(self) -> None:
        self.ended = time.perf_counter()
        if self.recorder is not None:
            self.recorder.enqueue(self)


def _clip(text: str | None, limit: int = MAX_TEXT) -> str:
    text = redact(text or "")
    return text if len(text) <= limit else text[:limit] + "…"


def _clean(value: Any) -> Any:
    """A JSON-able copy of a tool argument/result with every string redacted and the whole capped."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def _capped(value: Any) -> Any:
    cleaned = _clean(value)
    text = json.dumps(cleaned, default=str)
    return cleaned if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


def split_owner(owner: str, snapshot: Any) -> tuple[str, str]:
    """(client id, user id as the client knows it) of a session owner ``<clientId>:<userId>``.

    Only a prefix naming an existing client is a client (open mode and the admin use ids as sent,
    which may contain ``:`` too)."""
    head, sep, rest = owner.partition(":")
    if sep:
        cid = unquote(head)
        if cid in getattr(snapshot, "clients", {}):
            return cid, rest
    return "", owner


def message_text(message: Any) -> str:
    parts = getattr(message, "parts", None) or []
    out: list[str] = []
    for p in parts:
        if getattr(p, "text", None) and not getattr(p, "thought", False):
            out.append(p.text)
        elif getattr(p, "inline_data", None) is not None:
            out.append(f"[{p.inline_data.mime_type or 'file'}]")
        elif getattr(p, "file_data", None) is not None:
            out.append(f"[{p.file_data.mime_type or 'file'}]")
    return "".join(out)


def _iso(ts: float | None) -> str:
    moment = datetime.fromtimestamp(ts, UTC) if ts else datetime.now(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def steps(probe: Probe) -> list[dict[str, Any]]:
    """The turn's steps (see the module docstring), user events and bookkeeping left out."""
    snap = probe.snapshot
    agents = getattr(snap, "agents", {})
    backends = getattr(snap, "backends", {})
    out: list[dict[str, Any]] = []
    for te in probe.events:
        event = te.event
        if te.is_user:
            continue
        step: dict[str, Any] = {"author": te.author_id, "authorName": te.author_name or te.author_id,
                                "visible": bool(te.visible)}
        if event is None:
            step.update(errorCode=te.error_code or "", errorMessage=_clip(te.error_message), text="")
            step["timestamp"] = _iso(None)
            out.append(step)
            continue
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        by_id: dict[str, dict[str, Any]] = {}
        for part in (event.content.parts if event.content is not None and event.content.parts else []):
            if part.text and not part.thought:
                texts.append(part.text)
            if part.function_call is not None:
                fc = part.function_call
                call = {"name": fc.name or "", "args": _capped(fc.args or {})}
                calls.append(call)
                if fc.id:
                    by_id[fc.id] = call
            if part.function_response is not None:
                fr = part.function_response
                found = by_id.get(fr.id or "") or _pending(out, fr.id, fr.name)
                if found is not None:
                    found["result"] = _capped(fr.response)
                else:
                    calls.append({"name": fr.name or "", "result": _capped(fr.response)})
        usage = event.usage_metadata
        tokens_in = int(getattr(usage, "prompt_token_count", 0) or 0) if usage is not None else 0
        tokens_out = int(getattr(usage, "candidates_token_count", 0) or 0) if usage is not None else 0
        error = event.error_code or event.error_message
        if not texts and not calls and not error and usage is None:
            continue  # workflow bookkeeping (state deltas, routing markers): nothing to audit
        step["text"] = _clip("".join(texts))
        if calls:
            step["toolCalls"] = calls
            if by_id:
                step["_ids"] = list(by_id)
        if usage is not None:
            agent = agents.get(te.author_id)
            fallback = answered_by(event)
            if fallback:
                bid, model = str(fallback.get("backend") or ""), str(fallback.get("model") or "")
                step["fallback"] = dict(fallback)
            elif agent is not None:
                bid, model = agent.llm.backend, agent.llm.model
            else:
                bid, model = "", ""
            backend = backends.get(bid)
            step.update(backend=bid, backendName=(backend.name if backend is not None else "") or bid, model=model,
                        inputTokens=tokens_in, outputTokens=tokens_out)
        if error:
            step.update(errorCode=te.error_code or event.error_code or "error", errorMessage=_clip(event.error_message))
        path = event.node_info.path if event.node_info is not None else None
        if path:
            step["node"] = str(path).rsplit("/", 1)[-1].split("@", 1)[0]
        step["timestamp"] = _iso(event.timestamp)
        out.append(step)
    for step in out:
        step.pop("_ids", None)
    if probe.cancelled:
        out.append(_left(probe))
    return out


def _left(probe: Probe) -> dict[str, Any]:
    """The last step of a turn its client left: why it ended. (The words streamed to it before it
    left are the step before, the interrupted event kept in the session, :func:`magec.runtime.run.run_turn`.)"""
    return {"author": probe.app_id, "authorName": probe.app_name, "visible": True, "text": "",
            "errorCode": ClientGoneError.code, "errorMessage": "cancelled before the turn ended: the client left (or magec was stopping)",
            "timestamp": _iso(None)}


def _pending(done: list[dict[str, Any]], call_id: str | None, name: str | None) -> dict[str, Any] | None:
    """The earlier step's call a function response answers (ADK sends results as their own event)."""
    for step in reversed(done):
        for call in step.get("toolCalls", ()):
            if "result" not in call and (call_id and call_id in step.get("_ids", ()) or call["name"] == name):
                return call
    return None


def turn_row(probe: Probe, conversation_id: str, user_id: str, client_id: str) -> dict[str, Any]:
    """The ``audit_turns`` row of a finished turn."""
    done = steps(probe)
    shown = [s for s in done if s.get("visible") and s.get("text")]
    answer = "\n---\n".join(s["text"] for s in shown)
    answering = next((s for s in reversed(done) if s.get("backend")), None)
    last_visible = shown[-1] if shown else None
    errors = [s for s in done if s.get("errorCode")]
    # a failure after an answer was shown is not the turn's outcome; a client leaving before the
    # turn ended is (a flow's first answers may be shown, its last one never came)
    failed = errors[-1] if errors and (not answer or probe.cancelled) else None
    fallback = (answering or {}).get("fallback") or {}
    return {
        "id": uuid.uuid4().hex,
        "conversation_id": conversation_id,
        "at": probe.started,
        "latency_ms": round((probe.ended - probe.t0) * 1000, 3),
        "first_ms": round((probe.first - probe.t0) * 1000, 3) if probe.first is not None else None,
        "surface": probe.surface,
        "source": probe.source,
        "voice": probe.voice,
        "client_id": client_id,
        "user_id": user_id[:255],
        "app_id": probe.app_id,
        "app_kind": probe.app_kind,
        "session_id": probe.session_id,
        "agent_id": (last_visible or answering or {}).get("author", probe.app_id),
        "agent_name": ((last_visible or answering or {}).get("authorName") or probe.app_name)[:255],
        "backend_id": (answering or {}).get("backend", ""),
        "backend_name": ((answering or {}).get("backendName") or "")[:255],
        "model": ((answering or {}).get("model") or "")[:255],
        "fallback": int(fallback.get("index") or 0) if isinstance(fallback, dict) else 0,
        "input_tokens": sum(int(s.get("inputTokens", 0)) for s in done),
        "output_tokens": sum(int(s.get("outputTokens", 0)) for s in done),
        "tool_calls": sum(1 for s in done for c in s.get("toolCalls", ()) if "args" in c),
        "error_code": (failed or {}).get("errorCode", "")[:64],
        "error_message": (failed or {}).get("errorMessage", ""),
        "user_text": _clip(message_text(probe.message)),
        "answer": _clip(answer),
        "steps": json.dumps(done, default=str),
    }


def preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW else text[:PREVIEW] + "…"


# -- Magec's JSON ---------------------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def conversation_json(row: Any, perspective: str, totals: dict[str, Any] | None = None) -> dict[str, Any]:
    """Magec's ``Conversation`` (without ``messages``) for one perspective of a stored conversation,
    plus magec's counters (``turns``, ``inputTokens``, ``outputTokens``, ``errors``, ``surface``)."""
    out: dict[str, Any] = {
        "id": row.admin_id if perspective == "admin" else row.id,
        "sessionId": row.session_id,
        "agentId": row.app_id,
        "agentName": row.app_name,
        "source": row.source,
        "perspective": perspective,
        "userId": row.user_id,
        "startedAt": iso(row.started_at),
        "endedAt": iso(row.ended_at),
        "surface": row.surface,
    }
    if row.app_kind == "flow":
        out["flowId"], out["flowName"] = row.app_id, row.app_name
    if row.client_id:
        out["clientId"], out["clientName"] = row.client_id, row.client_name
    if getattr(row, "user_name", ""):  # magec's: how the bot's platform names the user
        out["userName"] = row.user_name
    if row.summary:
        out["summary"] = row.summary
    if row.preview:
        out["preview"] = row.preview
    if totals is not None:
        out.update(totals)
    return out


def messages(turns: list[Any], perspective: str) -> tuple[list[dict[str, Any]], list[Any]]:
    """Magec's ``messages`` (and, for the admin, ``rawEvents``: the stored steps) of some turns."""
    out: list[dict[str, Any]] = []
    raw: list[Any] = []
    for t in turns:
        when = iso(t.at)
        user: dict[str, Any] = {"role": "user", "content": t.user_text, "timestamp": when}
        if perspective == "admin":
            user["metadata"] = {
                "turnId": t.id, "surface": t.surface, "source": t.source, "voice": bool(t.voice),
                "latencyMs": t.latency_ms, "firstEventMs": t.first_ms, "backend": t.backend_id,
                "backendName": t.backend_name, "model": t.model, "fallback": t.fallback,
                "inputTokens": t.input_tokens, "outputTokens": t.output_tokens, "toolCalls": t.tool_calls,
                **({"errorCode": t.error_code, "errorMessage": t.error_message} if t.error_code else {}),
            }
        out.append(user)
        if perspective == "user":
            answer = {"role": "assistant", "agent": t.agent_name or t.agent_id,
                      "content": t.answer or (t.error_message if t.error_code else ""), "timestamp": when}
            if t.error_code:  # a failure, or the words read before a hang-up (``cancelled``)
                answer["metadata"] = {"errorCode": t.error_code}
            out.append(answer)
            continue
        stored = json.loads(t.steps or "[]")
        raw.extend(stored)
        for s in stored:
            msg: dict[str, Any] = {"role": "assistant", "agent": s.get("authorName") or s.get("author"),
                                   "content": s.get("text", "") or s.get("errorMessage", ""),
                                   "timestamp": s.get("timestamp") or when}
            if s.get("toolCalls"):
                msg["toolCalls"] = s["toolCalls"]
            meta = {k: s[k] for k in ("author", "visible", "backend", "backendName", "model", "fallback",
                                      "inputTokens", "outputTokens", "node", "errorCode") if k in s}
            msg["metadata"] = meta
            out.append(msg)
    return out, raw
