"""The conversation gateway: turns for non-HTTP clients (bots, webhooks, cron).

Contract of :class:`Conversations` (the seam the bot workers, webhooks and cron use):

* **Same rules as the user API.** A turn runs through :func:`magec.runtime.run.run_turn` on the
  newest runtime (``RuntimeManager.fresh``), so history, long-term memory, the context guard and
  the loop guard apply exactly as on ``/run``. The client must exist and be enabled, and may only
  reach its ``allowedAgents`` (an empty list reaches nothing, as for client tokens).
* **Ownership.** The session owner is ``<clientId>:<user>`` (:meth:`Caller.owner_key`), the session
  id is the platform conversation key (chat id, ``channel:thread``), hashed when longer than the id
  columns allow, with ``~<generation>`` once :meth:`reset` started a new one.
* **Agent per conversation.** The agent of a turn is ``Inbound.agent`` (this turn only), else the
  conversation's choice (:meth:`set_agent`, kept in ``client_conversations`` so it survives a
  restart), else ``config.<type>.defaultAgent``, else the first allowed agent.
* **Voice.** ``Inbound.audio`` is transcribed with the speaking agent's STT
  (:func:`magec.voice.resolve`/:func:`magec.voice.transcribe`); ``speech=True`` also synthesises
  the answer with its TTS (no TTS configured → text only, no error). Each of those provider calls
  is admitted like a turn of the client (``limits.maxRunsPerClient`` …, :meth:`_admitted`): a
  transcription refused is the turn's refusal; a synthesis refused leaves the answer text only.
* **Never raises for a failed turn**: :meth:`ask` answers an :class:`Outbound` with ``error_code``
  (one code of :mod:`magec.errors`) and a redacted ``error_message``. Only :meth:`set_agent` raises
  (4xx :class:`MagecError`) so a bot can answer "not allowed".
* ``Inbound.meta`` is written into the session state under ``client:<key>`` (the only keys a client
  may write, :func:`magec.api.clients.check_client_state`).
* **Fan-out** (:meth:`ask_each`, webhooks and cron — Magec's executor): with no ``Inbound.agent``
  the message goes to *every* allowed agent and flow in ``allowedAgents`` order, one after the
  other, each in its own session; the answer is the answers joined with ``\n---\n``. An agent that
  fails is left out (``Outbound.parts`` keeps every outcome); only when all fail is the answer a
  failure (the last one's code).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from google.genai import types
from sqlalchemy.exc import IntegrityError

from magec.agents.apps import App
from magec.audit.context import attributed
from magec.clients.tables import client_conversations
from magec.context import AppContext
from magec.errors import (
    AgentUnavailableError,
    AuthError,
    ForbiddenError,
    MagecError,
    NotFoundError,
    ValidationError,
)
from magec.redact import redact
from magec.runtime.build import Runtime
from magec.runtime.run import MAX_SESSION_ID, TurnEvent, ensure_session, require_app, run_turn
from magec.voice import NOT_CONFIGURED, VoiceTarget, locate, resolve, synthesize, transcribe

log = logging.getLogger(__name__)

#: the only session state keys a client writes (as :data:`magec.api.clients.CLIENT_STATE_PREFIX`)
CLIENT_STATE_PREFIX = "client:"
#: platform user ids are bounded so "<clientId>:<user>" fits the id columns (as the user API)
MAX_USER_ID = 200
#: conversation keys longer than this are hashed into the session id (room for ``~<generation>``)
_MAX_CONVERSATION = MAX_SESSION_ID - 16


@dataclass(frozen=True, slots=True)
class Inbound:
    conversation: str  # platform conversation key (chat id, channel[:thread]) -> one session of the client
    user: str  # platform user id (session owner under the client's namespace)
    text: str | None = None  # the user's text, or None when audio is given
    audio: bytes | None = None  # a voice note / audio attachment as the platform sends it
    audio_mime: str | None = None
    agent: str | None = None  # agent/flow id or name for this turn; None -> the conversation's current agent
    speech: bool = False  # also synthesize the answer with the speaking agent's TTS
    meta: Mapping[str, Any] = field(default_factory=dict)  # platform extras, kept in session state under client:
    #: TTS ``response_format`` wanted for ``speech`` (e.g. ``"opus"`` for a Telegram voice note)
    speech_format: str | None = None
    #: how the platform names the user (``@alice``, a display name): the conversation audit shows
    #: it beside the id, which for a bot's user is a number nobody recognises
    user_name: str = ""


@dataclass(slots=True)
class Outbound:
    text: str  # the visible answer ('' on error)
    agent_id: str
    agent_name: str
    transcript: str | None = None  # what STT heard when audio came in
    audio: bytes | None = None  # TTS of the answer when speech=True and the agent has TTS
    audio_mime: str | None = None
    error_code: str | None = None  # one code from magec.errors when the turn failed
    error_message: str | None = None  # redacted, user-presentable
    #: seconds to wait before sending again, when the turn was refused by a limit (429 / 503)
    retry_after: int | None = None
    #: the session the turn ran in (for logs and tests)
    session_id: str = ""
    #: :meth:`Conversations.ask_each`: each agent's own outcome, in ``allowedAgents`` order
    parts: list[Outbound] = field(default_factory=list)


def answer_text(events: list[TurnEvent]) -> str:
    """Final visible text of a turn: response agents' output, joined with ``\\n---\\n`` for flows."""
    chunks = [e.text for e in events if not e.partial and e.visible and not e.is_user]
    return "\n---\n".join(c for c in chunks if c)


def _now() -> datetime:
    return datetime.now(UTC)


class Conversations:
    """Runs turns for non-HTTP clients (bots, webhooks, cron) with the same rules as the user API:
    allowedAgents, session ownership (<clientId>:<user>), history, memory, context guard, loop guard."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @property
    def audio_limit(self) -> int:
        """The most bytes of audio one turn takes (``limits.uploadBytes``, as the voice routes):
        the bots check it before and while downloading a voice note, not after."""
        return int(self.ctx.config.upload_limit_bytes)

    # -- lookups -------------------------------------------------------------------------------
    async def _runtime(self) -> Runtime:
        assert self.ctx.runtime is not None, "runtime not started"
        return await self.ctx.runtime.fresh()

    @staticmethod
    def _client(rt: Runtime, client_id: str) -> Any:
        client = rt.snapshot.clients.get(client_id)
        if client is None:
            raise NotFoundError(f"client {client_id!r} not found")
        if not client.enabled:
            raise AuthError("this client is disabled")
        return client

    @staticmethod
    def _allowed_ids(rt: Runtime, client: Any) -> list[str]:
        """The client's allowed agents/flows that exist, in its order (ids)."""
        out: list[str] = []
        for key in client.allowed_agents:
            app = rt.find(key)
            if app is not None and app.id not in out:
                out.append(app.id)
        return out

    def pick(self, rt: Runtime, client: Any, key: str) -> App:
        """The agent or flow ``key`` (id or name) names, when ``client`` may use it; else
        :class:`NotFoundError` / :class:`ForbiddenError` (a webhook checks its caller's ``agent``
        before running anything)."""
        return self._pick(rt, client, key)

    def _pick(self, rt: Runtime, client: Any, key: str) -> App:
        allowed = self._allowed_ids(rt, client)
        app = rt.find(key, allowed.__contains__, field="agent")
        if app is None:
            raise NotFoundError(f"agent or flow {key!r} not found")
        if app.id not in allowed:
            raise ForbiddenError(f"this client is not allowed to use {key!r}")  # as asked: no id of what it may not use
        return app

    async def _stored(self, client_id: str, conversation: str) -> tuple[str | None, int]:
        t = client_conversations
        async with self.ctx.store.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(t.c.agent_id, t.c.generation).where(
                        t.c.client_id == client_id, t.c.conversation == _conv_key(conversation)
                    )
                )
            ).first()
        return (row[0], int(row[1] or 0)) if row is not None else (None, 0)

    async def _write(self, client_id: str, conversation: str, **values: Any) -> None:
        """Upsert the conversation's row (portable: update, else insert, retrying a lost race)."""
        t = client_conversations
        key = _conv_key(conversation)
        where = (t.c.client_id == client_id, t.c.conversation == key)
        for _ in range(3):
            async with self.ctx.store.engine.begin() as conn:
                done = await conn.execute(sa.update(t).where(*where).values(updated_at=_now(), **values))
                if done.rowcount:
                    return
                try:
                    await conn.execute(
                        sa.insert(t).values(
                            client_id=client_id,
                            conversation=key,
                            agent_id=values.get("agent_id"),
                            generation=values.get("generation", 0),
                            updated_at=_now(),
                        )
                    )
                    return
                except IntegrityError:
                    continue  # another turn inserted it first: update that row
        raise MagecError("could not record the conversation")

    async def _resolve(self, rt: Runtime, client_id: str, client: Any, conversation: str, agent: str | None) -> App:
        allowed = self._allowed_ids(rt, client)
        if not allowed:
            raise ForbiddenError("this client has no allowed agents (set allowedAgents)")
        if agent:
            return require_app(rt, self._pick(rt, client, agent).id)
        chosen, _ = await self._stored(client_id, conversation)
        candidates = [chosen, _default_agent(client)]
        for cand in candidates:
            if cand:
                app = rt.find(cand)
                if app is not None and app.id in allowed:
                    return require_app(rt, app.id)
        return require_app(rt, allowed[0])

    # -- the seam ------------------------------------------------------------------------------
    async def ask(self, client_id: str, inbound: Inbound) -> Outbound:
        """Run one turn for ``inbound`` (see the module contract); never raises for a failed turn."""
        app: App | None = None
        transcript: str | None = None
        try:
            rt = await self._runtime()
            client = self._client(rt, client_id)
            app = await self._resolve(rt, client_id, client, inbound.conversation, inbound.agent)
            text = inbound.text
            if inbound.audio:
                target = _hearing(rt, app)
                costs = self.ctx.extras.get("costs")
                if costs is not None:  # a spent budget refuses the transcription too, not just the turn after it
                    costs.check_call(rt, client_id, app.id, target.agent.id)
                with self._admitted(client_id, target.backend_ids()):
                    transcript = await transcribe(
                        target,
                        inbound.audio,
                        inbound.audio_mime,
                        self.ctx.runtime.usage if self.ctx.runtime is not None else None,
                        limit=self.ctx.config.upload_limit_bytes,
                    )
                text = transcript
            if not text or not text.strip():
                raise ValidationError("text: the message is empty", field="text")
            user = owner_key(client_id, inbound.user)
            _, generation = await self._stored(client_id, inbound.conversation)
            sid = await ensure_session(rt, app, user, session_id(inbound.conversation, generation))
            delta = {CLIENT_STATE_PREFIX + str(k): v for k, v in inbound.meta.items()} or None
            message = types.Content(role="user", parts=[types.Part(text=text)])
            # the audit's surface, and the user's name the platform gave
            with attributed(str(client.type), voice=bool(inbound.audio), user_name=inbound.user_name):
                events = [e async for e in run_turn(rt, app, user, sid, message, state_delta=delta)]
        except MagecError as err:
            return _failed(app, err, transcript)
        except Exception as err:  # noqa: BLE001 - a bot must answer something, never crash its loop
            log.warning("client %s turn failed: %s", client_id, redact(repr(err)))
            return _failed(app, MagecError("internal error"), transcript)
        answer = answer_text(events)
        out = Outbound(answer, app.id, app.name, transcript, session_id=sid)
        failed = [e for e in events if e.error_code]
        if failed and not answer:
            out.error_code = failed[-1].error_code
            out.error_message = failed[-1].error_message
            out.retry_after = failed[-1].retry_after
            return out
        if inbound.speech and answer:
            await self._speak(rt, client_id, app, answer, inbound.speech_format, out)
        return out

    async def ask_each(self, client_id: str, inbound: Inbound) -> Outbound:
        """``inbound`` to every allowed agent, or to ``inbound.agent`` alone (module contract,
        "Fan-out"); never raises for a failed turn."""
        if inbound.agent:
            return await self.ask(client_id, inbound)
        try:
            rt = await self._runtime()
            allowed = self._allowed_ids(rt, self._client(rt, client_id))
        except MagecError as err:
            return _failed(None, err, None)
        if len(allowed) < 2:  # one agent (or none: ask says why) is a plain turn
            return await self.ask(client_id, inbound)
        # one after the other, as Magec: a client's runs count once against its concurrency limit
        parts = [await self.ask(client_id, replace(inbound, agent=aid)) for aid in allowed]
        answered = [p for p in parts if p.error_code is None]
        if not answered:
            last = parts[-1]
            return replace(last, parts=parts)
        first = answered[0]
        text = "\n---\n".join(p.text for p in answered if p.text)
        return Outbound(text, first.agent_id, first.agent_name, session_id=first.session_id, parts=parts)

    async def _speak(self, rt: Runtime, client_id: str, app: App, text: str, fmt: str | None, out: Outbound) -> None:
        """TTS of the answer into ``out`` (no TTS configured, or it failed → text only)."""
        try:
            target = resolve(rt.snapshot, locate(rt.snapshot, app.id), "tts")
            with self._admitted(client_id, target.backend_ids()):
                result = await synthesize(
                    target, text, fmt, self.ctx.runtime.usage if self.ctx.runtime is not None else None
                )
                out.audio = b"".join([chunk async for chunk in result.chunks])
            out.audio_mime = result.content_type
        except MagecError as err:
            log.info("no speech for %s: %s", app.id, redact(str(err)))

    @contextlib.contextmanager
    def _admitted(self, client_id: str, backends: list[str]) -> Iterator[None]:
        """A voice call of the client admitted like its turns (:mod:`magec.runtime.admission`):
        refused (429/503's error) beyond its limits, counted while it runs. Unadmitted, a bot's
        users could keep any number of transcriptions running at once, past the client's limit."""
        admission = self.ctx.extras.get("admission")
        ticket = admission.enter(client_id, backends) if admission is not None else None
        try:
            yield
        finally:
            if ticket is not None:
                ticket.release()

    async def reset(self, client_id: str, conversation: str, user: str) -> None:  # noqa: ARG002 - per conversation
        """Start a new session for the conversation (its history stays stored, no longer used)."""
        _, generation = await self._stored(client_id, conversation)
        await self._write(client_id, conversation, generation=generation + 1)

    async def agents(self, client_id: str) -> list[tuple[str, str]]:
        """(id, name) of the agents and flows this client may use, in its ``allowedAgents`` order."""
        rt = await self._runtime()
        client = self._client(rt, client_id)
        return [(aid, rt.apps[aid].name) for aid in self._allowed_ids(rt, client)]

    async def current_agent(self, client_id: str, conversation: str) -> str | None:
        """The id of the agent the conversation talks to now (None: the client has none allowed)."""
        rt = await self._runtime()
        client = self._client(rt, client_id)
        try:
            app = await self._resolve(rt, client_id, client, conversation, None)
        except MagecError:
            return None
        return app.id

    async def set_agent(self, client_id: str, conversation: str, agent: str) -> str:
        """Switch the conversation to ``agent`` (id or name); its id. 404/403 when unknown/not allowed."""
        rt = await self._runtime()
        client = self._client(rt, client_id)
        app = self._pick(rt, client, agent)
        await self._write(client_id, conversation, agent_id=app.id)
        return app.id

    async def has_voice(self, client_id: str, agent: str | None, conversation: str) -> tuple[bool, bool]:
        """Whether the conversation's (or ``agent``'s) speaking agent has (STT, TTS) configured."""
        try:
            rt = await self._runtime()
            client = self._client(rt, client_id)
            app = await self._resolve(rt, client_id, client, conversation, agent)
        except MagecError:
            return False, False
        found: list[bool] = []
        for role in ("stt", "tts"):
            try:
                resolve(rt.snapshot, locate(rt.snapshot, app.id), role)  # type: ignore[arg-type]
                found.append(True)
            except MagecError:
                found.append(False)
        return found[0], found[1]


def _default_agent(client: Any) -> str | None:
    section = client.config.get(client.type) if isinstance(client.config, Mapping) else None
    value = section.get("defaultAgent") if isinstance(section, Mapping) else None
    return value if isinstance(value, str) and value else None


def owner_key(client_id: str, user: str) -> str:
    """The ADK user id of ``user`` of client ``client_id``: ``<clientId>:<user>``, exactly as
    :meth:`magec.api.clients.Caller.owner_key` stores it (the client id percent-encoded)."""
    if not user or len(user) > MAX_USER_ID:
        raise ValidationError(f"user: 1 to {MAX_USER_ID} characters", field="user")
    return quote(client_id, safe="") + ":" + user


def _conv_key(conversation: str) -> str:
    """The stored conversation key: as sent, hashed when too long for the id columns."""
    if len(conversation) <= _MAX_CONVERSATION:
        return conversation
    return "h:" + hashlib.sha256(conversation.encode()).hexdigest()


def session_id(conversation: str, generation: int) -> str:
    """The session id of a conversation at ``generation`` (see the module contract)."""
    key = _conv_key(conversation)
    return key if generation == 0 else f"{key}~{generation}"


def _hearing(rt: Runtime, app: App) -> VoiceTarget:
    """The STT target of ``app``. Without one, the chat is told which agent cannot take voice notes
    and what to do (the run API's words, "transcription not configured for this agent", named
    neither the agent nor a way out to someone in Telegram)."""
    try:
        return resolve(rt.snapshot, locate(rt.snapshot, app.id), "stt")
    except AgentUnavailableError as err:
        if str(err) != NOT_CONFIGURED["stt"]:
            raise
        where = "its agents have" if app.kind == "flow" else "it has"
        raise AgentUnavailableError(
            f"{app.name} cannot take voice notes: {where} no speech-to-text (STT) backend. Send text, "
            f"or ask an admin to set one (Admin UI → Agents → Voice)") from err


def _failed(app: App | None, err: MagecError, transcript: str | None) -> Outbound:
    message = redact(str(err)) or err.code
    wait = getattr(err, "retry_after", None)
    return Outbound(
        "",
        app.id if app is not None else "",
        app.name if app is not None else "",
        transcript,
        error_code=err.code,
        error_message=message,
        retry_after=math.ceil(wait) if isinstance(wait, int | float) and wait > 0 else None,
    )
