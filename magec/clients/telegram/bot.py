"""The Telegram bot worker: ``run(ctx)`` connects one Telegram client to its agents.

Contract:

* Talks to ``{config.telegram.apiBaseUrl}/bot{token}/{method}`` (default the public Bot API) with
  python-telegram-bot's :class:`telegram.Bot` (``base_url``/``base_file_url``, no patching).
  ``getMe`` first: success → ``status.connected("@username")``; failure → ``status.failed`` with
  a redacted error and the worker raises (the supervisor restarts it with backoff).
* Long polling (``getUpdates`` with ``offset``/``timeout``) unless the server has a public URL: then
  ``setWebhook`` to ``{publicURL}/api/v1/hooks/telegram/{clientId}`` with a ``secret_token``
  derived from the bot token (:func:`magec.clients.telegram.webhook_secret`), and updates arrive through
  :func:`magec.clients.workers.deliver` from :mod:`magec.api.user.bot_hooks`. Poll errors keep the
  worker alive: the status shows the redacted error until the platform answers again. An update
  python-telegram-bot cannot parse is confirmed and skipped (logged), never retried forever.
* Who may talk: with ``allowedUsers`` / ``allowedChats`` / ``allowedChatThreads`` all empty,
  everyone (Magec's rule; docs/bots.md warns); otherwise a user in ``allowedUsers``, a chat in
  ``allowedChats`` or a ``{chatId, threadId?}`` in ``allowedChatThreads`` is enough. Others are
  ignored silently (logged).
* Each chat (forum topic: ``chat:thread``) is one conversation — one session of the client,
  owned by ``<clientId>:<telegram user id>``. Messages of one conversation run in order.
* Commands: ``/start``, ``/help``, ``/agent [id|name]`` (inline buttons to switch, per chat),
  ``/responsemode [text|voice|mirror|both|reset]`` (per chat, until the worker restarts),
  ``/reset`` (new session). Voice notes and audio (at most ``limits.uploadBytes``) go to the
  agent's STT; answers go out per response mode as text (split at 4096 characters, Markdown
  rendered as escaped HTML, plain text when Telegram refuses the HTML) and/or a voice note (TTS converted to OGG/Opus; sent as an audio
  file, with a log line saying why, when it cannot be converted).
* Every update is written down in the client's inbox (:mod:`magec.clients.inbox`) before Telegram
  is told it arrived (the next ``getUpdates`` offset, the webhook's ``200``); a redelivered one is
  dropped; in webhook mode the worker also takes what another process's hook route wrote down
  (:meth:`~magec.clients.inbox.BotInbox.follow`). A starting worker first handles what the previous one left: an update that had not
  reached its agent is handled now, one interrupted mid-answer gets "please send it again".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import warnings
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from telegram import (
    Bot,
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from magec.clients import botkit
from magec.clients.conversation import Inbound, Outbound
from magec.clients.inbox import Seen, mark_started, notice, spawn_answered
from magec.clients.telegram import inbox_key, webhook_secret
from magec.clients.workers import WorkerContext, register_inbox
from magec.errors import MagecError, PayloadTooLargeError

log = logging.getLogger("magec.clients.telegram")
# raw getUpdates on purpose (_Bot.raw_updates): the library's advice to use its parsing call instead
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", module=r"magec\.clients\.telegram")
T = TypeVar("T")

DEFAULT_API = "https://api.telegram.org"


def _file_url(path: str) -> str:
    """The download URL of a ``getFile`` answer's ``file_path``, which python-telegram-bot has
    already put under ``base_file_url``; non-ASCII path characters percent-encoded, as its own
    download does."""
    parts = urlsplit(path)
    return urlunsplit(parts._replace(path=quote(parts.path)))
MAX_TEXT = 4096
POLL_TIMEOUT = 25
HOOK_PATH = "/api/v1/hooks/telegram/{client_id}"
ALLOWED_UPDATES = ("message", "callback_query")
COMMANDS = [
    ("start", "Show the welcome message"),
    ("help", "List the commands"),
    ("agent", "Show or switch the agent of this chat"),
    ("responsemode", "Show or change the response mode"),
    ("reset", "Start a new conversation"),
]


class _Bot(Bot):
    async def raw_updates(self, offset: int, timeout: int) -> list[Any]:
        """``getUpdates`` as the Bot API's JSON. ``Bot.get_updates`` parses a batch all or nothing:
        one update it cannot parse (a shape newer than the library, a field Telegram left out)
        would fail every poll while it stays unconfirmed, so the bot would never answer again.
        :meth:`TelegramBot._poll` parses them one by one and skips the bad one instead."""
        # do_api_request: the library's public call for a raw endpoint (no return_type: the JSON)
        result = await self.do_api_request(
            "getUpdates",
            api_kwargs={"offset": offset, "timeout": timeout, "allowed_updates": list(ALLOWED_UPDATES)},
            read_timeout=POLL_TIMEOUT + 15 + timeout,
        )
        return list(result) if isinstance(result, list) else []


def _parse(payload: Any, bot: Bot, client_id: str) -> Update | None:
    """One update, or None (logged) when it does not parse: it must not stop the bot."""
    try:
        return Update.de_json(payload, bot) if isinstance(payload, dict) else None
    except Exception as exc:  # noqa: BLE001 - any parse failure of python-telegram-bot
        update_id = payload.get("update_id") if isinstance(payload, dict) else None
        log.warning("telegram client %s: skipped update %s that could not be read: %s",
                    client_id, update_id, type(exc).__name__)
        return None


class TelegramBot:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        cfg = botkit.section(ctx.config, "telegram")
        self.token = botkit.secret(cfg, "botToken")
        base = botkit.api_base(cfg, DEFAULT_API)
        self.bot = _Bot(
            self.token,
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            request=HTTPXRequest(connection_pool_size=16, read_timeout=60, write_timeout=60),
            get_updates_request=HTTPXRequest(read_timeout=POLL_TIMEOUT + 15),
        )
        self.users = botkit.id_set(cfg.get("allowedUsers"), "allowedUsers")
        self.chats = botkit.id_set(cfg.get("allowedChats"), "allowedChats")
        self.threads: set[tuple[str, str | None]] = set()
        # as botkit.id_set: an entry that cannot be read stops the bot, never leaves the list empty
        # (open to everyone); a single {chatId, threadId?} where a list was meant is that entry
        raw = cfg.get("allowedChatThreads")
        entries = [raw] if isinstance(raw, Mapping) else raw or []
        if not isinstance(entries, list):
            raise ValueError("allowedChatThreads must be a list of {chatId, threadId?}")
        for entry in entries:
            if not isinstance(entry, Mapping) or entry.get("chatId") in (None, ""):
                raise ValueError("allowedChatThreads entries must be {chatId, threadId?}")
            thread = entry.get("threadId")
            self.threads.add((str(entry["chatId"]), None if thread in (None, "", 0) else str(thread)))
        self.mode = botkit.normalise_mode(cfg.get("responseMode"))
        self.modes = botkit.ResponseModes(self.mode)  # per conversation /responsemode override
        self.locks = botkit.ConversationLocks()
        self.tasks: set[asyncio.Task[None]] = set()
        self.identity = ""

    # -- lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            await self.bot.initialize()  # getMe
        except Exception as exc:
            error = botkit.safe_error(exc, self.token)
            self.ctx.status.failed(error)
            raise ConnectionError(f"telegram: {error}") from None
        self.identity = f"@{self.bot.username}"
        self.ctx.status.connected(self.identity)
        log.info("telegram client %s connected as %s", self.ctx.client_id, self.identity)
        try:
            with contextlib.suppress(TelegramError):
                await self.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
            if self.ctx.public_url:
                await self._webhook(self.ctx.public_url)
            else:
                await self._poll()
        finally:
            await botkit.finish(self.tasks, self.ctx.grace)  # answers already acknowledged to the platform
            with contextlib.suppress(Exception):
                await self.bot.shutdown()

    async def _poll(self) -> None:
        await self.bot.delete_webhook()
        await self._replay()
        offset = 0
        failures = 0
        while True:
            try:
                # after a failure, a quick probe shows recovery at once
                updates = await self.bot.raw_updates(offset, 0 if failures else POLL_TIMEOUT)
            except TimedOut:
                continue
            except (InvalidToken, Forbidden) as exc:
                error = botkit.safe_error(exc, self.token)
                self.ctx.status.failed(error)
                raise ConnectionError(f"telegram: {error}") from None
            except (NetworkError, Conflict, TelegramError) as exc:
                failures += 1
                self.ctx.status.failed(botkit.safe_error(exc, self.token))
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            if failures:
                failures = 0
                self.ctx.status.connected(self.identity)
            for payload in updates:
                try:  # written down before the next getUpdates confirms it
                    fresh = await self._receive(payload)
                except Exception as exc:  # not confirmed: Telegram gives it (and those after it) again
                    failures += 1
                    self.ctx.status.failed(f"could not record a message: {botkit.safe_error(exc, self.token)}")
                    await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
                    break
                update_id = payload.get("update_id") if isinstance(payload, dict) else None
                if isinstance(update_id, int):
                    offset = max(offset, update_id + 1)  # confirmed, even when it does not parse
                if fresh and (update := _parse(payload, self.bot, self.ctx.client_id)) is not None:
                    self._spawn(update)

    async def _webhook(self, public_url: str) -> None:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        seen = Seen()

        async def accept(payload: Any) -> None:  # before the route's 200 (bot_hooks)
            # taken once: the follower below may have read the row between its commit and now
            if await self._receive(payload) and seen.add(inbox_key(self.token, payload.get("update_id", ""))):
                queue.put_nowait(payload)

        for key in await self._replay():
            seen.add(key)
        unregister = register_inbox(self.ctx.client_id, accept)
        # what the hook route of another process (replica, --workers) wrote down for this bot
        follower = (asyncio.create_task(self.ctx.inbox.follow(self.ctx.client_id, seen, queue.put_nowait))
                    if self.ctx.inbox is not None else None)
        try:
            url = public_url.rstrip("/") + HOOK_PATH.format(client_id=self.ctx.client_id)
            await self.bot.set_webhook(
                url, secret_token=webhook_secret(self.token, self.ctx.client_id),
                allowed_updates=list(ALLOWED_UPDATES),
            )
            log.info("telegram client %s receives updates by webhook", self.ctx.client_id)
            while True:
                payload = await queue.get()
                if (update := _parse(payload, self.bot, self.ctx.client_id)) is not None:
                    self._spawn(update)
        finally:
            unregister()
            if follower is not None:
                follower.cancel()

    async def _receive(self, payload: Any) -> bool:
        """Write an update down in the inbox (True: new; False: a redelivery of one it has)."""
        update_id = payload.get("update_id") if isinstance(payload, dict) else None
        if self.ctx.inbox is None or not isinstance(update_id, int):
            return True
        return await self.ctx.inbox.receive(self.ctx.client_id, inbox_key(self.token, update_id), payload)

    async def _replay(self) -> list[str]:
        """The updates the previous worker received and did not finish (:mod:`magec.clients.inbox`);
        their keys."""
        if self.ctx.inbox is None:
            return []
        lefts = await self.ctx.inbox.left(self.ctx.client_id)
        for left in lefts:
            update = _parse(left.payload, self.bot, self.ctx.client_id)
            if update is None:
                await self.ctx.inbox.done(self.ctx.client_id, left.key)
            else:  # under the key it was written down with (an older magec's: the bare update_id)
                self._spawn(update, interrupted=left.started, key=left.key)
        return [left.key for left in lefts]

    def _spawn(self, update: Update, *, interrupted: bool = False, key: str | None = None) -> None:
        key = key or inbox_key(self.token, update.update_id)
        handling = self._tell_interrupted(update) if interrupted else self._handle_safely(update, key)
        spawn_answered(self.tasks, self.ctx.inbox, self.ctx.client_id, key, handling)

    async def _tell_interrupted(self, update: Update) -> None:
        msg = update.message
        if msg is None:
            return
        log.info("telegram client %s: update %s was interrupted mid-answer; asking its user to send it again",
                 self.ctx.client_id, update.update_id)
        try:
            await self._send_text(msg, notice(msg.text or msg.caption))
        except TelegramError as exc:
            log.warning("telegram client %s: could not ask for update %s again: %s", self.ctx.client_id,
                        update.update_id, botkit.safe_error(exc, self.token))

    async def _handle_safely(self, update: Update, key: str) -> None:
        try:
            await self.handle(update, key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad update must not stop the bot
            log.warning("telegram client %s: update %s failed: %s", self.ctx.client_id, update.update_id,
                        botkit.safe_error(exc, self.token))

    # -- updates -------------------------------------------------------------------------------
    def allowed(self, user_id: int, chat_id: int, thread_id: int | None) -> bool:
        if not (self.users or self.chats or self.threads):
            return True
        chat = str(chat_id)
        return (
            str(user_id) in self.users
            or chat in self.chats
            or (chat, None) in self.threads
            or (thread_id is not None and (chat, str(thread_id)) in self.threads)
        )

    @staticmethod
    def conversation(chat_id: int, thread_id: int | None) -> str:
        return f"{chat_id}:{thread_id}" if thread_id is not None else str(chat_id)

    async def handle(self, update: Update, key: str | None = None) -> None:
        if update.callback_query is not None:
            await self._button(update.callback_query)
            return
        msg = update.message
        if msg is None or msg.from_user is None or msg.from_user.is_bot:
            return
        thread = msg.message_thread_id if msg.is_topic_message else None
        if not self.allowed(msg.from_user.id, msg.chat.id, thread):
            log.info("telegram client %s: ignored a message from user %s in chat %s (not allowed)",
                     self.ctx.client_id, msg.from_user.id, msg.chat.id)
            u = msg.from_user
            self.ctx.status.ignored(u.id, msg.chat.id, f"@{u.username}" if u.username else u.full_name)
            return
        self.ctx.status.message_seen()
        conv = self.conversation(msg.chat.id, thread)
        async with self.locks.hold(conv):
            text = (msg.text or "").strip()
            if text.startswith("/") and await self._command(msg, conv, text):
                return
            await self._turn(msg, conv, thread, key or inbox_key(self.token, update.update_id))

    async def _command(self, msg: Message, conv: str, text: str) -> bool:
        """Run a bot command; False when ``text`` is no command of ours (it goes to the agent)."""
        head, _, arg = text.partition(" ")
        name, _, target = head[1:].partition("@")
        if target and target.lower() != (self.bot.username or "").lower():
            return True  # a command for another bot in the group
        arg = arg.strip()
        cid = self.ctx.client_id
        convs = self.ctx.conversations
        if name == "start":
            agent = await self._agent_label(conv)
            await self._reply(msg, f"👋 <b>Welcome!</b> You are talking to <b>{_esc(agent)}</b>.\n\n"
                                   "Type /help to see the commands.")
        elif name == "help":
            lines = "\n".join(f"/{c} — {_esc(d)}" for c, d in COMMANDS)
            await self._reply(msg, f"<b>Commands</b>\n\n{lines}")
        elif name == "agent":
            await self._agent_command(msg, conv, arg)
        elif name == "responsemode":
            await self._mode_command(msg, conv, arg)
        elif name == "reset":
            await convs.reset(cid, conv, str(msg.from_user.id if msg.from_user else ""))
            agent = await self._agent_label(conv)
            await self._reply(msg, f"Session reset for <b>{_esc(agent)}</b>. "
                                   "The next message starts a fresh conversation.")
        else:
            return False
        return True

    async def _agent_label(self, conv: str) -> str:
        convs = self.ctx.conversations
        current = await convs.current_agent(self.ctx.client_id, conv)
        names = dict(await convs.agents(self.ctx.client_id))
        return names.get(current or "", current or "no agent")

    async def _agent_command(self, msg: Message, conv: str, arg: str) -> None:
        convs = self.ctx.conversations
        cid = self.ctx.client_id
        agents = await convs.agents(cid)
        if not arg:
            current = await convs.current_agent(cid, conv)
            lines = "\n".join(
                f"{'▸' if aid == current else '•'} {_esc(name)} (<code>{_esc(aid)}</code>)" for aid, name in agents
            )
            keyboard = InlineKeyboardMarkup(
                [[InlineKeyboardButton(name, callback_data=f"agent:{aid}"[:64])] for aid, name in agents]
            )
            await self._reply(msg, f"<b>Agents</b>\n{lines}\n\nUsage: <code>/agent &lt;id or name&gt;</code>",
                              markup=keyboard if agents else None)
            return
        await self._reply(msg, await self._switch(conv, arg, agents))

    async def _switch(self, conv: str, key: str, agents: list[tuple[str, str]]) -> str:
        by_name = {name.lower(): aid for aid, name in agents}
        wanted = by_name.get(key.lower(), key)
        try:
            aid = await self.ctx.conversations.set_agent(self.ctx.client_id, conv, wanted)
        except MagecError:
            # by name first: the user typed a name (an id alone means nothing in a chat)
            names = ", ".join(f"{_esc(n)} (<code>{_esc(a)}</code>)" for a, n in agents) or "none"
            return f"Unknown agent <code>{_esc(key)}</code>. Available: {names}"
        name = dict(agents).get(aid, aid)
        return f"Switched to <b>{_esc(name)}</b> (<code>{_esc(aid)}</code>)."

    async def _button(self, query: CallbackQuery) -> None:
        message = query.message
        data = query.data or ""
        with contextlib.suppress(TelegramError):
            await query.answer()
        if not isinstance(message, Message) or not data.startswith("agent:"):
            return
        thread = message.message_thread_id if message.is_topic_message else None
        if not self.allowed(query.from_user.id, message.chat.id, thread):
            return
        conv = self.conversation(message.chat.id, thread)
        async with self.locks.hold(conv):
            agents = await self.ctx.conversations.agents(self.ctx.client_id)
            text = await self._switch(conv, data.removeprefix("agent:"), agents)
            await self.bot.send_message(message.chat.id, text, parse_mode=ParseMode.HTML,
                                        message_thread_id=thread)

    async def _mode_command(self, msg: Message, conv: str, arg: str) -> None:
        options = ", ".join(f"<code>{m}</code>" for m in (*botkit.RESPONSE_MODES, "reset"))
        if not arg:
            current = self.modes.get(conv)
            note = f" (this chat; the client's default is <code>{self.mode}</code>)" if conv in self.modes else ""
            await self._reply(msg, f"<b>Response mode:</b> <code>{current}</code>{note}\nOptions: {options}")
        elif arg == "reset":
            self.modes.reset(conv)
            await self._reply(msg, f"Response mode back to the client's default: <code>{self.mode}</code>")
        elif arg in botkit.RESPONSE_MODES:
            self.modes.set(conv, arg)
            note = _esc(await botkit.speechless(self.ctx, conv, arg))
            await self._reply(msg, f"Response mode set to <code>{arg}</code> for this chat.{note}")
        else:
            await self._reply(msg, f"Unknown mode <code>{_esc(arg)}</code>. Options: {options}")

    async def _turn(self, msg: Message, conv: str, thread: int | None, key: str) -> None:
        media = msg.voice or msg.audio
        text = msg.text or msg.caption
        if media is None and not text:
            return  # stickers, photos without caption…: nothing to say
        user = msg.from_user
        assert user is not None
        audio: bytes | None = None
        if media is not None:
            # a local Bot API server serves files up to 2 GB: a declared size is checked before
            # downloading, and the download itself stops past the limit — ``file_size`` is optional
            # in the Bot API, and the library's download read whatever came, whole, into memory
            limit = self.ctx.conversations.audio_limit
            try:
                if (error := botkit.too_large(media.file_size, limit)) is not None:
                    raise error
                file = await self.bot.get_file(media.file_id)
                audio = await botkit.fetch_audio(_file_url(file.file_path or ""), limit, size=file.file_size)
            except PayloadTooLargeError as error:
                await self._send_text(msg, f"⚠️ {error}")
                return
        p = botkit.plan(self.modes.get(conv), voice_in=audio is not None)
        meta: dict[str, Any] = {
            "source": "telegram", "telegram_user_id": user.id, "telegram_chat_id": msg.chat.id,
            "telegram_chat_type": msg.chat.type,
        }
        if user.username:
            meta["telegram_username"] = f"@{user.username}"
        if user.full_name:
            meta["telegram_name"] = user.full_name
        inbound = Inbound(
            conversation=conv, user=str(user.id), text=None if audio else text, audio=audio,
            audio_mime=(media.mime_type if media is not None else None) or ("audio/ogg" if audio else None),
            speech=p.speech, speech_format="opus" if p.speech else None, meta=meta,
            user_name=f"@{user.username}" if user.username else user.full_name or "",
        )
        await mark_started(self.ctx.inbox, self.ctx.client_id, key)  # a replay from here could run it twice
        async with self._typing(msg.chat.id, thread):
            out = await self.ctx.conversations.ask(self.ctx.client_id, inbound)
        await self._answer(msg, out, p)

    async def _answer(self, msg: Message, out: Outbound, p: botkit.Plan) -> None:
        if out.error_code:
            await self._send_text(msg, f"⚠️ {out.error_message or out.error_code}")
            return
        if p.voice and not out.audio:
            log.info("telegram client %s: agent %s gave no speech (no TTS?): answering with text",
                     self.ctx.client_id, out.agent_id)
        if (p.text or not out.audio) and out.text:
            await self._send_text(msg, out.text)
        if p.voice and out.audio:
            await self._send_voice(msg, out.audio, out.audio_mime)

    # -- sending -------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _typing(self, chat_id: int, thread: int | None) -> Any:
        async def loop() -> None:
            while True:
                with contextlib.suppress(TelegramError):
                    await self.bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=thread)
                await asyncio.sleep(4.5)  # Telegram shows "typing…" for 5 s per action

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()

    @staticmethod
    async def _send(make: Callable[[], Awaitable[T]]) -> T:
        """One Bot API send, waiting out Telegram's flood control (429 + retry_after) up to twice."""
        for attempt in range(3):
            try:
                return await make()
            except RetryAfter as exc:
                with warnings.catch_warnings():  # PTB 22 warns that it becomes a timedelta; both handled
                    warnings.simplefilter("ignore")
                    wait = exc.retry_after
                seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
                if attempt == 2 or seconds > 60:
                    raise
                log.info("telegram flood control: waiting %.0f s before sending", seconds)
                await asyncio.sleep(seconds)
        raise AssertionError("unreachable")

    async def _reply(self, msg: Message, html_text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        thread = msg.message_thread_id if msg.is_topic_message else None
        await self._send(lambda: self.bot.send_message(msg.chat.id, html_text, parse_mode=ParseMode.HTML,
                                                       reply_markup=markup, message_thread_id=thread))

    async def _send_text(self, msg: Message, text: str) -> None:
        thread = msg.message_thread_id if msg.is_topic_message else None
        for chunk, rendered in _html_pieces(text, MAX_TEXT):
            if rendered is not None:
                try:
                    await self._send(functools.partial(
                        self.bot.send_message, msg.chat.id, rendered, parse_mode=ParseMode.HTML,
                        message_thread_id=thread))
                    continue
                except BadRequest as exc:  # HTML Telegram will not parse: say it plainly
                    log.info("telegram refused the HTML answer (%s): sending plain text", exc.message)
            await self._send(functools.partial(self.bot.send_message, msg.chat.id, chunk, message_thread_id=thread))

    async def _send_voice(self, msg: Message, audio: bytes, mime: str | None) -> None:
        thread = msg.message_thread_id if msg.is_topic_message else None
        ogg = await asyncio.to_thread(botkit.to_ogg_opus, audio, mime)
        if ogg is not None:
            await self._send(lambda: self.bot.send_voice(msg.chat.id, ogg, filename="answer.ogg",
                                                         message_thread_id=thread))
            return
        log.warning("telegram client %s: the agent's speech (%s) could not be converted to OGG/Opus "
                    "(no PyAV/ffmpeg, or undecodable audio): sending it as an audio file",
                    self.ctx.client_id, mime or "unknown type")
        await self._send(lambda: self.bot.send_audio(msg.chat.id, audio, filename=botkit.audio_filename(mime),
                                                     message_thread_id=thread))


def _html_pieces(text: str, limit: int, cut: int | None = None) -> list[tuple[str, str | None]]:
    """(plain, HTML or None) pieces of ``text`` whose HTML fits ``limit`` (escaping grows the text,
    so a piece whose HTML is too long is cut further; a piece that cannot fit goes out plain)."""
    out: list[tuple[str, str | None]] = []
    for chunk in botkit.split_text(text, cut or limit):
        rendered = botkit.markdown_to_html(chunk)
        if len(rendered) <= limit:
            out.append((chunk, rendered))
        elif len(chunk) > 64:
            out.extend(_html_pieces(chunk, limit, len(chunk) * limit // len(rendered)))
        else:
            out.append((chunk, None))
    return out


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def run(ctx: WorkerContext) -> None:
    """The Telegram worker (see the module contract); runs until cancelled."""
    await TelegramBot(ctx).run()
