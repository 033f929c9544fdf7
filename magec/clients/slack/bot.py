"""The Slack bot worker: ``run(ctx)`` connects one Slack client (Socket Mode) to its agents.

Uses slack_sdk: :class:`AsyncWebClient` with ``base_url={config.slack.apiBaseUrl}/`` (default
``https://slack.com/api``) and its websockets Socket Mode client, which gets the ``wss://`` URL
from ``apps.connections.open`` with the app token — no patching.

Contract:

* ``auth.test`` with the bot token first: success → ``status.connected("@user")``; an auth error
  records ``status.failed`` and raises (the supervisor restarts with backoff). While the socket is
  down (the SDK reconnects by itself) the status shows it; it turns connected again on reconnect.
* Every event is written down in the client's inbox (:mod:`magec.clients.inbox`, keyed by its
  ``event_id``), then its envelope is acked (Slack retries unacked ones; one it cannot write down
  is left unacked), then handled in a task; a retry of an event it has is acked and dropped. A
  starting worker first handles what the previous one left: an event that had not reached its
  agent is handled now, one interrupted mid-answer gets "please send it again".
* Messages: ``app_mention`` in channels and ``message`` in DMs (``channel_type: im``); bot
  messages, edits and other subtypes (except file shares) are skipped. The author must pass the
  allow-lists (``allowedUsers`` or ``allowedChannels``; both empty → everyone, as Magec).
* Mentions are answered in a thread on the message (``thread_ts``); each thread (``channel:ts``)
  and each DM channel is one conversation. In a thread, the newest ``threadHistoryLimit`` messages
  (the current one counted; ``conversations.replies`` read to its last page) go to the agent, in
  chronological order, as hidden context.
* ``!help``, ``!agent``, ``!reset``, ``!responsemode``; audio files go to the agent's STT (downloaded
  from ``url_private`` with the bot token, at most ``limits.uploadBytes``; only from an https
  ``slack.com`` / ``*.slack.com`` host or ``apiBaseUrl``'s own host and port, otherwise the file
  is skipped and logged, so the token never goes elsewhere); answers per response mode as text
  (split at 3,900 characters; special mentions such as ``<!channel>`` escaped, so an answer never
  pages a channel) and/or the speech uploaded as a file (``files_upload_v2``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.socket_mode.websockets import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from magec.clients import botkit
from magec.clients.conversation import Inbound
from magec.clients.inbox import Replaying, mark_started, notice
from magec.clients.slack.names import Unavailable, UserNames
from magec.clients.workers import WorkerContext
from magec.errors import PayloadTooLargeError

log = logging.getLogger("magec.clients.slack")

DEFAULT_API = "https://slack.com/api"
MAX_TEXT = 3900
WATCH_SECONDS = 2.0
#: conversations.replies page size (Slack advises at most 200) and how many pages a thread's
#: history may take (a runaway thread must not cost unbounded requests per question)
HISTORY_PAGE = 200
MAX_HISTORY_PAGES = 50
#: ``users.info`` refusals that hold for every user of the workspace (:mod:`magec.clients.slack.names`)
WORKSPACE_REFUSALS = frozenset({"missing_scope", "not_allowed_token_type", "ratelimited"})
AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


class SlackBot(Replaying):
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        cfg = botkit.section(ctx.config, "slack")
        self.bot_token = botkit.secret(cfg, "botToken")
        self.app_token = botkit.secret(cfg, "appToken")
        self.api = botkit.api_base(cfg, DEFAULT_API)
        self.web = AsyncWebClient(token=self.bot_token, base_url=self.api + "/")
        self.users = botkit.id_set(cfg.get("allowedUsers"), "allowedUsers")
        self.channels = botkit.id_set(cfg.get("allowedChannels"), "allowedChannels")
        limit = cfg.get("threadHistoryLimit")
        self.history_limit = limit if isinstance(limit, int) and limit > 0 else 50
        self.commands = botkit.ChatCommands(ctx, botkit.normalise_mode(cfg.get("responseMode")))
        self.bot_user = ""
        self.bot_id = ""
        self.identity = ""
        self.locks = botkit.ConversationLocks()
        self.tasks: set[asyncio.Task[None]] = set()
        self.intake = asyncio.Lock()
        #: user id -> display name (:meth:`_name_of`)
        self.names = UserNames(self._users_info)

    def _error(self, exc: BaseException) -> str:
        return botkit.safe_error(exc, self.bot_token, self.app_token)

    async def run(self) -> None:
        try:
            me = await self.web.auth_test()
        except Exception as exc:
            error = self._error(exc)
            self.ctx.status.failed(error)
            raise ConnectionError(f"slack: {error}") from None
        self.bot_user = str(me.get("user_id") or "")
        self.bot_id = str(me.get("bot_id") or "")
        self.identity = f"@{me.get('user') or self.bot_user}"
        socket = SocketModeClient(self.app_token, web_client=self.web, logger=log, ping_interval=10)
        socket.socket_mode_request_listeners.append(self._on_request)  # type: ignore[arg-type]
        try:
            await self._replay()
            await self._keep_connected(socket)
        finally:
            await botkit.finish(self.tasks, self.ctx.grace)  # answers already acknowledged to the platform
            with contextlib.suppress(Exception):
                await socket.close()

    async def _keep_connected(self, socket: SocketModeClient) -> None:
        """Connect, then watch the socket: the status follows it (the SDK reconnects by itself)."""
        failures = 0
        up = False
        while True:
            if not up:
                try:
                    if socket.current_session is None:
                        await socket.connect()
                    else:
                        await socket.connect_to_new_endpoint(force=True)
                except SlackApiError as exc:
                    if exc.response.get("error") in AUTH_ERRORS:
                        error = self._error(exc)
                        self.ctx.status.failed(error)
                        raise ConnectionError(f"slack app token: {error}") from None
                    failures += 1
                    self.ctx.status.failed(self._error(exc))
                except Exception as exc:
                    failures += 1
                    self.ctx.status.failed(self._error(exc))
            now_up = await socket.is_connected()
            if now_up and not up:
                failures = 0
                self.ctx.status.connected(self.identity)
                log.info("slack client %s connected as %s", self.ctx.client_id, self.identity)
            elif up and not now_up:
                self.ctx.status.failed("the Socket Mode connection to Slack was lost; reconnecting")
            up = now_up
            await asyncio.sleep(WATCH_SECONDS if up else min(30.0, 0.5 * 2 ** min(failures, 6)))

    async def _on_request(self, socket: SocketModeClient, req: SocketModeRequest) -> None:
        payload = req.payload or {}
        event = payload.get("event") or {}
        # only what the bot may answer is written down, never the channel chatter Slack also sends
        answerable = req.type == "events_api" and self._for_me(event)
        key = (str(payload.get("event_id") or "") or None) if answerable else None
        # one envelope at a time, in the order they came (the SDK runs each in its own task, and a
        # write that finished first must not put "and now?" ahead of the "!agent beta" before it)
        async with self.intake:
            fresh = True
            if key is not None and self.ctx.inbox is not None:
                try:  # written down before the ack: Slack forgets an acked envelope
                    fresh = await self.ctx.inbox.receive(self.ctx.client_id, key, event)
                except Exception as exc:  # not acked: Slack sends the envelope again
                    log.warning("slack client %s: event %s not recorded, left to Slack's retry: %s",
                                self.ctx.client_id, key, self._error(exc))
                    return
            await socket.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            if req.type == "events_api" and fresh:  # a retry of an event here already is dropped
                self._spawn(event, key)

    async def _tell_interrupted(self, event: dict[str, Any]) -> None:
        where = self._where(event)
        if where is None:
            return
        log.info("slack client %s: a message was interrupted mid-answer; asking its user to send it again",
                 self.ctx.client_id)
        text = re.sub(rf"<@{re.escape(self.bot_user)}>", "", str(event.get("text") or "")).strip()
        try:
            await self._send_text(*where, notice(text))
        except SlackApiError as exc:
            log.warning("slack client %s: could not ask for a message again: %s", self.ctx.client_id,
                        self._error(exc))

    def _for_me(self, event: dict[str, Any]) -> bool:
        """A mention of the bot or a DM to it, by a person (what :meth:`handle` goes on with)."""
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
            return False
        user = str(event.get("user") or "")
        return bool(user) and user != self.bot_user and self._where(event) is not None

    @staticmethod
    def _where(event: dict[str, Any]) -> tuple[str, str | None] | None:
        """The channel and thread an answer to ``event`` goes to (None: it is not one to answer)."""
        channel = str(event.get("channel") or "")
        is_dm = event.get("type") == "message" and event.get("channel_type") == "im"
        if not channel or not (is_dm or event.get("type") == "app_mention"):
            return None
        parent = event.get("thread_ts")
        return channel, None if is_dm and not parent else str(parent or event.get("ts"))

    async def _handle_safely(self, event: dict[str, Any], key: str | None = None) -> None:
        try:
            await self.handle(event, key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad event must not stop the bot
            log.warning("slack client %s: event failed: %s", self.ctx.client_id, self._error(exc))

    def allowed(self, user: str, channel: str) -> bool:
        if not (self.users or self.channels):
            return True
        return user in self.users or channel in self.channels

    async def handle(self, event: dict[str, Any], key: str | None = None) -> None:
        kind = event.get("type")
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
            return
        user, channel = str(event.get("user") or ""), str(event.get("channel") or "")
        if not user or user == self.bot_user:
            return
        is_dm = kind == "message" and event.get("channel_type") == "im"
        if not (kind == "app_mention" or is_dm):
            return  # plain channel chatter: mentions arrive as app_mention
        if not self.allowed(user, channel):
            log.info("slack client %s: ignored a message from %s in %s (not allowed)",
                     self.ctx.client_id, user, channel)
            self.ctx.status.ignored(user, channel)
            return
        self.ctx.status.message_seen()
        text = re.sub(rf"<@{re.escape(self.bot_user)}>", "", str(event.get("text") or "")).strip()
        audio_file = next((f for f in event.get("files") or []
                           if str(f.get("mimetype", "")).startswith(("audio/", "video/webm"))), None)
        if audio_file is not None and not self._slack_file(audio_file):
            log.warning("slack client %s: skipped an audio file whose URL is not on Slack (%s): the bot "
                        "token goes to Slack's file hosts only", self.ctx.client_id, self._host(audio_file))
            audio_file = None
        if not text and audio_file is None:
            return
        ts = str(event.get("ts"))
        parent = event.get("thread_ts")
        where = self._where(event)
        assert where is not None  # a mention or a DM with a channel, checked above
        thread = where[1]
        conv = f"{channel}:{thread}" if thread else channel
        async with self.locks.hold(conv):

            async def say(reply: str) -> None:
                await self._send_text(channel, thread, reply)

            if audio_file is None and await self.commands.run(conv, user, text, say):
                return
            prefix = await self._thread_context(channel, str(parent), ts) if parent else ""
            await self._turn(event, conv, channel, thread, user, text, audio_file, prefix, key)

    @staticmethod
    def _url(file: dict[str, Any]) -> str:
        return str(file.get("url_private_download") or file.get("url_private") or "")

    @classmethod
    def _host(cls, file: dict[str, Any]) -> str:
        try:
            return httpx.URL(cls._url(file)).host or "no host"
        except httpx.InvalidURL:
            return "an invalid URL"

    def _slack_file(self, file: dict[str, Any]) -> bool:
        """Whether the file's download URL may get the bot token: an https Slack host, or the
        scheme, host and port of ``apiBaseUrl`` (a self-hosted or loopback API). A file object is
        what a message event names, and whoever can shape one must not collect the token with a
        URL of their own. Parsed by httpx, which makes the request, so both read the same host."""
        try:
            url, api = httpx.URL(self._url(file)), httpx.URL(self.api)
        except httpx.InvalidURL:
            return False
        host = url.host.lower()
        if url.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")):
            return True
        return bool(host) and (url.scheme, host, url.port) == (api.scheme, api.host.lower(), api.port)

    async def _thread_context(self, channel: str, thread: str, current: str) -> str:
        # conversations.replies pages oldest first: the newest messages are on the last page, and
        # they are the context the question is about, so every page is read and only the newest
        # ``history_limit`` kept (the current one counted, as Discord's newest-first fetch does)
        newest: deque[dict[str, Any]] = deque(maxlen=self.history_limit)
        cursor: str | None = None
        try:
            for _ in range(MAX_HISTORY_PAGES):
                r = await self.web.conversations_replies(channel=channel, ts=thread, limit=HISTORY_PAGE,
                                                         cursor=cursor)
                newest.extend(r.get("messages") or [])
                cursor = (r.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    break
        except SlackApiError as exc:
            log.info("slack thread history unavailable: %s", self._error(exc))
            return ""
        lines = []
        for m in newest:
            if str(m.get("ts")) == current:
                continue
            mine = m.get("user") == self.bot_user or bool(self.bot_id and m.get("bot_id") == self.bot_id)
            # another app's bot is a participant like any other, under its display name
            name = "assistant" if mine else str(m.get("username") or (m.get("bot_profile") or {}).get("name")
                                                or m.get("user") or m.get("bot_id") or "user")
            lines.append((name, re.sub(r"<@[A-Z0-9]+>", "", str(m.get("text") or ""))))
        return botkit.thread_history(lines)

    async def _turn(self, event: dict[str, Any], conv: str, channel: str, thread: str | None, user: str,
                    text: str, audio_file: dict[str, Any] | None, prefix: str, key: str | None = None) -> None:
        audio: bytes | None = None
        if audio_file is not None:
            url = self._url(audio_file)  # a Slack host (handle() checked it): the token may go there
            try:  # capped: a Slack file may be 1 GB
                audio = await botkit.fetch_audio(url, self.ctx.conversations.audio_limit, size=audio_file.get("size"),
                                                 headers={"Authorization": f"Bearer {self.bot_token}"})
            except PayloadTooLargeError as exc:
                await self._send_text(channel, thread, f"⚠️ {exc}")
                return
        p = botkit.plan(self.commands.mode(conv), voice_in=audio is not None)
        name = await self._name_of(user)
        meta = {"source": "slack", "slack_user_id": user, "slack_channel_id": channel,
                "slack_channel_type": event.get("channel_type") or "channel", "slack_thread_ts": thread,
                "slack_team_id": event.get("team"), "slack_username": name.removeprefix("@")}
        inbound = Inbound(
            conversation=conv, user=user, text=None if audio else prefix + text, audio=audio,
            audio_mime=str(audio_file.get("mimetype")) if audio_file else None, speech=p.speech,
            meta={k: v for k, v in meta.items() if v}, user_name=name,
        )
        await mark_started(self.ctx.inbox, self.ctx.client_id, key)  # a replay from here could run it twice
        out = await self.ctx.conversations.ask(self.ctx.client_id, inbound)
        if out.error_code:
            await self._send_text(channel, thread, f"⚠️ {out.error_message or out.error_code}")
            return
        if (p.text or not out.audio) and out.text:
            await self._send_text(channel, thread, out.text)
        if p.voice and out.audio:
            await self.web.files_upload_v2(
                channel=channel, thread_ts=thread, content=out.audio, title="Answer",
                filename=botkit.audio_filename(out.audio_mime),
            )

    async def _name_of(self, user: str) -> str:
        """The user's ``@handle`` (its real name when it has none), as Magec asks Slack for it
        (``users.info``), through the worker's :class:`~magec.clients.slack.names.UserNames` (kept a
        while, bounded; a missing ``users:read`` scope or a rate limit pauses the asking); "" when
        Slack does not say: the turn goes on under the id alone."""
        return await self.names.get(user)

    async def _users_info(self, user: str) -> str:
        """One ``users.info`` ask; :class:`~magec.clients.slack.names.Unavailable` says whether a
        refusal holds for the whole workspace (no scope, rate limited) or this user only."""
        try:
            info = (await self.web.users_info(user=user)).get("user") or {}
        except Exception as exc:  # noqa: BLE001 - a name is never worth failing the turn
            log.info("slack client %s: no name for user %s: %s", self.ctx.client_id, user, self._error(exc))
            code = str(exc.response.get("error") or "") if isinstance(exc, SlackApiError) else ""
            retry = exc.response.headers.get("Retry-After", "") if isinstance(exc, SlackApiError) else ""
            raise Unavailable(code or type(exc).__name__, workspace=code in WORKSPACE_REFUSALS,
                              retry_after=float(retry) if str(retry).isdigit() else 0.0) from None
        handle = str(info.get("name") or "")
        return f"@{handle}" if handle else str(info.get("real_name") or "")

    async def _send_text(self, channel: str, thread: str | None, text: str) -> None:
        # <!channel>, <!here>, <!everyone>, <!subteam^…> page every member: an answer (or a command
        # echoing its argument) is text others can steer, so "<" of a special mention goes out
        # escaped and shows literally (the Discord bot sends allowed_mentions: {parse: []})
        text = text.replace("<!", "&lt;!")
        for chunk in botkit.split_text(text, MAX_TEXT):
            await self.web.chat_postMessage(channel=channel, text=chunk, thread_ts=thread)


async def run(ctx: WorkerContext) -> None:
    """The Slack worker (see the module contract); runs until cancelled."""
    await SlackBot(ctx).run()
