"""The Discord bot worker: ``run(ctx)`` connects one Discord client to its agents.

Discord's SDK (discord.py) hard-codes its API base, so this speaks the protocol itself: REST with
httpx at ``config.discord.apiBaseUrl`` (default ``https://discord.com/api/v10``) and the Gateway
WebSocket (``websockets``) at the URL ``GET /gateway/bot`` returns.

Contract:

* ``GET /users/@me`` then the Gateway: HELLO → IDENTIFY (guild messages, DMs, message content) →
  READY → ``status.connected("@username")``; heartbeats at the interval HELLO gives (a beat not
  acknowledged by the next one closes the zombied connection); a dropped connection or op 7
  reconnects with RESUME when a session exists; op 9 or a failed RESUME
  re-identifies. A 401 or close code 4004 (bad token) records ``status.failed`` and raises (the
  supervisor restarts with backoff); network failures keep the worker alive with the redacted
  error in the status until the platform answers again.
* Messages: DMs always, guild messages only when they mention the bot; the author must pass the
  allow-lists (``allowedUsers`` or ``allowedChannels``; both empty → everyone, as Magec). A mention
  in a plain channel opens a thread on that message and the answer goes there (as Magec); a message
  in a thread brings up to ``threadHistoryLimit`` earlier thread messages as hidden context. Each
  DM channel / thread is one conversation (a session of the client).
* A message the bot answers is written down in the client's inbox (:mod:`magec.clients.inbox`) as
  it arrives (Discord never sends one twice). A starting worker first handles what the previous one
  left: a message that had not reached its agent is handled now, one interrupted mid-answer gets
  "please send it again".
* ``!help``, ``!agent``, ``!reset``, ``!responsemode`` (:class:`magec.clients.botkit.ChatCommands`).
  Audio attachments (voice messages, at most ``limits.uploadBytes``) go to the agent's STT;
  answers go out per response mode as text (split at 2000 characters) and/or the speech as an
  audio attachment (OGG/Opus when it can be converted, else the TTS format).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from magec.clients import botkit
from magec.clients.conversation import Inbound
from magec.clients.inbox import Replaying, mark_started, notice
from magec.clients.workers import WorkerContext
from magec.errors import PayloadTooLargeError

log = logging.getLogger("magec.clients.discord")

DEFAULT_API = "https://discord.com/api/v10"
MAX_TEXT = 2000
INTENTS = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15)  # GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT
THREAD_TYPES = {10, 11, 12}
FATAL_CLOSE = {4004, 4010, 4011, 4012, 4013, 4014}  # bad token, bad shard, bad intents…


class DiscordAuthError(Exception):
    pass


class DiscordBot(Replaying):
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        cfg = botkit.section(ctx.config, "discord")
        self.token = botkit.secret(cfg, "botToken")
        self.api = botkit.api_base(cfg, DEFAULT_API)
        self.users = botkit.id_set(cfg.get("allowedUsers"), "allowedUsers")
        self.channels = botkit.id_set(cfg.get("allowedChannels"), "allowedChannels")
        limit = cfg.get("threadHistoryLimit")
        self.history_limit = limit if isinstance(limit, int) and limit > 0 else 50
        self.commands = botkit.ChatCommands(ctx, botkit.normalise_mode(cfg.get("responseMode")))
        self.http = httpx.AsyncClient(
            base_url=self.api + "/", timeout=httpx.Timeout(30, connect=10),
            headers={"Authorization": f"Bot {self.token}", "User-Agent": "DiscordBot (magec, 1.0)"},
        )
        self.me: dict[str, Any] = {}
        self.identity = ""
        self.session_id: str | None = None
        self.resume_url: str | None = None
        self.seq: int | None = None
        self.acked = True  # the last heartbeat was acknowledged (op 11)
        self.locks = botkit.ConversationLocks()
        self.tasks: set[asyncio.Task[None]] = set()
        self.replayed = False

    # -- lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            await self._connect_loop()
        except DiscordAuthError as exc:
            error = botkit.safe_error(str(exc), self.token)
            self.ctx.status.failed(error)
            raise ConnectionError(f"discord: {error}") from None
        finally:
            await botkit.finish(self.tasks, self.ctx.grace)  # answers already acknowledged to the platform
            await self.http.aclose()

    async def _get(self, path: str, **params: Any) -> Any:
        r = await self.http.get(path, params=params or None)
        if r.status_code == 401:
            raise DiscordAuthError("401 Unauthorized: the bot token was rejected")
        r.raise_for_status()
        return r.json()

    async def _connect_loop(self) -> None:
        failures = 0
        while True:
            try:
                if not self.me:
                    self.me = await self._get("users/@me")
                    self.identity = f"@{self.me.get('username', '')}"
                if not self.replayed:  # once the bot's own id is known (its mention checks need it)
                    await self._replay()
                    self.replayed = True
                gateway = self.resume_url or (await self._get("gateway/bot"))["url"]
                await self._session(gateway)
                failures = 0  # a session that ended normally (reconnect requested)
            except DiscordAuthError:
                raise
            except (OSError, httpx.HTTPError, websockets.WebSocketException, ValueError, KeyError) as exc:
                failures += 1
                self.ctx.status.failed(botkit.safe_error(exc, self.token))
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)) * (0.8 + 0.4 * random.random()))

    async def _session(self, gateway: str) -> None:
        url = gateway + ("&" if "?" in gateway else "?") + "v=10&encoding=json"
        async with websockets.connect(url, max_size=16 * 1024 * 1024) as ws:
            hello = json.loads(await ws.recv())
            interval = float(hello["d"]["heartbeat_interval"]) / 1000
            beat = asyncio.create_task(self._heartbeat(ws, interval))
            try:
                if self.session_id and self.resume_url:
                    await ws.send(json.dumps({"op": 6, "d": {"token": self.token, "session_id": self.session_id,
                                                              "seq": self.seq}}))
                else:
                    await self._identify(ws)
                async for raw in ws:
                    if not await self._on_payload(ws, json.loads(raw)):
                        return
            except websockets.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
                if code in FATAL_CLOSE:
                    raise DiscordAuthError(f"gateway closed the connection ({code})") from None
                raise
            finally:
                beat.cancel()

    async def _identify(self, ws: ClientConnection) -> None:
        await ws.send(json.dumps({"op": 2, "d": {
            "token": self.token, "intents": INTENTS,
            "properties": {"os": "linux", "browser": "magec", "device": "magec"},
        }}))

    async def _heartbeat(self, ws: ClientConnection, interval: float) -> None:
        await asyncio.sleep(interval * random.random())  # Discord asks for a jittered first beat
        self.acked = True
        while True:
            if not self.acked:  # no ACK since the last beat: a zombied connection, resume on a new one
                log.info("discord client %s: heartbeat not acknowledged; reconnecting", self.ctx.client_id)
                await ws.close(code=4000, reason="heartbeat not acknowledged")
                return
            self.acked = False
            await ws.send(json.dumps({"op": 1, "d": self.seq}))
            await asyncio.sleep(interval)

    async def _on_payload(self, ws: ClientConnection, payload: dict[str, Any]) -> bool:
        """Handle one Gateway payload; False to reconnect."""
        op = payload.get("op")
        if payload.get("s") is not None:
            self.seq = payload["s"]
        if op == 11:
            self.acked = True
        elif op == 1:
            await ws.send(json.dumps({"op": 1, "d": self.seq}))
        elif op == 7:
            return False
        elif op == 9:
            self.session_id = self.resume_url = None
            self.seq = None
            await asyncio.sleep(1 + random.random())
            await self._identify(ws)
        elif op == 0:
            event, data = payload.get("t"), payload.get("d") or {}
            if event == "READY":
                self.session_id = data.get("session_id")
                self.resume_url = data.get("resume_gateway_url")
                self.me = data.get("user") or self.me
                self.identity = f"@{self.me.get('username', '')}"
                self.ctx.status.connected(self.identity)
                log.info("discord client %s connected as %s", self.ctx.client_id, self.identity)
            elif event == "RESUMED":
                self.ctx.status.connected(self.identity)
            elif event == "MESSAGE_CREATE":
                key = (str(data.get("id") or "") or None) if self._for_me(data) else None
                if key is not None and self.ctx.inbox is not None:
                    try:  # Discord never sends a message twice: written down as it arrives
                        if not await self.ctx.inbox.receive(self.ctx.client_id, key, data):
                            return True  # here already (a resumed session's replay)
                    except Exception as exc:  # answered anyway, only not crash-proof
                        log.warning("discord client %s: message %s not recorded: %s", self.ctx.client_id, key,
                                    botkit.safe_error(exc, self.token))
                self._spawn(data, key)
        return True

    def _for_me(self, msg: dict[str, Any]) -> bool:
        """A DM, or a mention of the bot, by a person (what :meth:`handle` goes on with): the rest of
        a guild's chatter is never written down."""
        author = msg.get("author") or {}
        me = str(self.me.get("id", ""))
        if author.get("bot") or str(author.get("id")) == me:
            return False
        return not msg.get("guild_id") or any(str(m.get("id")) == me for m in msg.get("mentions") or [])

    async def _tell_interrupted(self, msg: dict[str, Any]) -> None:
        log.info("discord client %s: message %s was interrupted mid-answer; asking its user to send it again",
                 self.ctx.client_id, msg.get("id"))
        text = re.sub(r"<@!?\d+>", "", str(msg.get("content") or "")).strip()
        try:
            await self._send_text(str(msg.get("channel_id")), notice(text), str(msg.get("id") or "") or None)
        except httpx.HTTPError as exc:
            log.warning("discord client %s: could not ask for message %s again: %s", self.ctx.client_id,
                        msg.get("id"), botkit.safe_error(exc, self.token))

    async def _handle_safely(self, msg: dict[str, Any], key: str | None = None) -> None:
        try:
            await self.handle(msg, key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad message must not stop the bot
            log.warning("discord client %s: message failed: %s", self.ctx.client_id,
                        botkit.safe_error(exc, self.token))

    # -- messages ------------------------------------------------------------------------------
    def allowed(self, user: str, channel: str, parent: str | None) -> bool:
        if not (self.users or self.channels):
            return True
        return user in self.users or channel in self.channels or (parent is not None and parent in self.channels)

    async def handle(self, msg: dict[str, Any], key: str | None = None) -> None:
        author = msg.get("author") or {}
        me = str(self.me.get("id", ""))
        if author.get("bot") or str(author.get("id")) == me:
            return
        channel_id = str(msg.get("channel_id"))
        is_dm = not msg.get("guild_id")
        if not is_dm and not any(str(m.get("id")) == me for m in msg.get("mentions") or []):
            return
        channel: dict[str, Any] = {} if is_dm else await self._get(f"channels/{channel_id}")
        in_thread = channel.get("type") in THREAD_TYPES
        parent = str(channel["parent_id"]) if in_thread and channel.get("parent_id") else None
        user = str(author.get("id"))
        if not self.allowed(user, channel_id, parent):
            log.info("discord client %s: ignored a message from user %s in channel %s (not allowed)",
                     self.ctx.client_id, user, channel_id)
            self.ctx.status.ignored(user, channel_id, author.get("global_name") or author.get("username"))
            return
        self.ctx.status.message_seen()
        text = re.sub(rf"<@!?{re.escape(me)}>", "", msg.get("content") or "").strip()
        audio_att = next((a for a in msg.get("attachments") or []
                          if str(a.get("content_type", "")).startswith("audio/")), None)
        if not text and audio_att is None:
            return
        target = channel_id
        if not is_dm and not in_thread:  # a mention in a channel: answer in a thread on that message
            target = await self._open_thread(channel_id, str(msg["id"]), text)
        async with self.locks.hold(target):

            async def say(reply: str) -> None:
                await self._send_text(target, reply, None)

            if audio_att is None and await self.commands.run(target, user, text, say):
                return
            await self._turn(msg, target, user, text, audio_att, in_thread, key)

    async def _open_thread(self, channel_id: str, message_id: str, text: str) -> str:
        name = (text[:37] + "...") if len(text) > 40 else (text or "Chat with Magec")
        r = await self.http.post(f"channels/{channel_id}/messages/{message_id}/threads",
                                 json={"name": name, "auto_archive_duration": 60})
        if r.status_code >= 400:
            log.info("discord client %s: could not open a thread (%s): answering in the channel",
                     self.ctx.client_id, r.status_code)
            return channel_id
        return str(r.json().get("id", channel_id))

    async def _thread_context(self, thread_id: str, current: str) -> str:
        try:
            msgs = await self._get(f"channels/{thread_id}/messages", limit=min(self.history_limit, 100))
        except (httpx.HTTPError, DiscordAuthError) as exc:
            log.info("discord thread history unavailable: %s", botkit.safe_error(exc, self.token))
            return ""
        lines = []
        for m in reversed(msgs):  # newest first on the wire
            if str(m.get("id")) == current:
                continue
            author = m.get("author") or {}
            name = "assistant" if str(author.get("id")) == str(self.me.get("id")) else (
                author.get("global_name") or author.get("username") or "user")
            lines.append((str(name), re.sub(r"<@!?\d+>", "", m.get("content") or "")))
        return botkit.thread_history(lines)

    async def _turn(self, msg: dict[str, Any], target: str, user: str, text: str,
                    audio_att: dict[str, Any] | None, in_thread: bool, key: str | None = None) -> None:
        audio: bytes | None = None
        ref = str(msg["id"]) if target == str(msg.get("channel_id")) else None
        if audio_att is not None:
            try:  # no bot token to the attachment host; capped: an attachment may be 500 MB
                audio = await botkit.fetch_audio(str(audio_att["url"]), self.ctx.conversations.audio_limit,
                                                 size=audio_att.get("size"))
            except PayloadTooLargeError as exc:
                await self._send_text(target, f"⚠️ {exc}", ref)
                return
        prefix = await self._thread_context(target, str(msg.get("id"))) if in_thread else ""
        p = botkit.plan(self.commands.mode(target), voice_in=audio is not None)
        author = msg.get("author") or {}
        meta = {"source": "discord", "discord_user_id": user, "discord_channel_id": target,
                "discord_username": author.get("username"), "discord_guild_id": msg.get("guild_id")}
        inbound = Inbound(
            conversation=target, user=user, text=None if audio else prefix + text, audio=audio,
            audio_mime=str(audio_att.get("content_type")) if audio_att else None, speech=p.speech,
            speech_format="opus" if p.speech else None, meta={k: v for k, v in meta.items() if v},
            user_name=f"@{author['username']}" if author.get("username") else str(author.get("global_name") or ""),
        )
        with contextlib.suppress(httpx.HTTPError):
            await self.http.post(f"channels/{target}/typing")
        await mark_started(self.ctx.inbox, self.ctx.client_id, key)  # a replay from here could run it twice
        out = await self.ctx.conversations.ask(self.ctx.client_id, inbound)
        if out.error_code:
            await self._send_text(target, f"⚠️ {out.error_message or out.error_code}", ref)
            return
        if (p.text or not out.audio) and out.text:
            await self._send_text(target, out.text, ref)
        if p.voice and out.audio:
            await self._send_audio(target, out.audio, out.audio_mime)

    async def _send_text(self, channel: str, text: str, reference: str | None) -> None:
        for i, chunk in enumerate(botkit.split_text(text, MAX_TEXT)):
            body: dict[str, Any] = {"content": chunk, "allowed_mentions": {"parse": []}}
            if reference and i == 0:
                body["message_reference"] = {"message_id": reference, "fail_if_not_exists": False}
            r = await self.http.post(f"channels/{channel}/messages", json=body)
            r.raise_for_status()

    async def _send_audio(self, channel: str, audio: bytes, mime: str | None) -> None:
        ogg = await asyncio.to_thread(botkit.to_ogg_opus, audio, mime)
        if ogg is None:
            log.info("discord client %s: speech (%s) not converted to OGG/Opus: attached as it is",
                     self.ctx.client_id, mime or "unknown type")
        data, name, ctype = (ogg, "answer.ogg", "audio/ogg") if ogg else (
            audio, botkit.audio_filename(mime), mime or "application/octet-stream")
        payload = {"attachments": [{"id": 0, "filename": name}], "allowed_mentions": {"parse": []}}
        r = await self.http.post(f"channels/{channel}/messages", data={"payload_json": json.dumps(payload)},
                                 files={"files[0]": (name, data, ctype)})
        r.raise_for_status()


async def run(ctx: WorkerContext) -> None:
    """The Discord worker (see the module contract); runs until cancelled."""
    await DiscordBot(ctx).run()
