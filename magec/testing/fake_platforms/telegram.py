"""A loopback Telegram Bot API: ``{url}/bot{token}/{method}`` and ``{url}/file/bot{token}/{path}``.

Speaks the real wire format (``{"ok": true, "result": ...}`` / ``{"ok": false, "error_code",
"description"}``; parameters as JSON, urlencoded form or multipart) for getMe, getUpdates (long
polling with ``offset``/``timeout``; 409 while a webhook is set), setWebhook / deleteWebhook /
getWebhookInfo (updates are then POSTed to the webhook with ``X-Telegram-Bot-Api-Secret-Token``),
sendMessage (400 over 4096 characters or with HTML Telegram would not parse), sendVoice /
sendAudio / sendDocument (multipart), getFile + file download, sendChatAction,
answerCallbackQuery, setMyCommands, editMessageText. ``fake.outage = True`` makes every call
answer 502 (the platform is down) until it is set back; ``fake.flood(n)`` answers the next ``n``
sendMessage calls with 429 + ``retry_after`` (flood control).

Tests inject users with :meth:`TelegramFake.send_text`, :meth:`~TelegramFake.send_voice` and
:meth:`~TelegramFake.press_button` (any raw update: :meth:`~TelegramFake.send_update`), and
read what the bot did from ``fake.sent`` (kinds
``sendMessage``, ``sendVoice``, ``sendAudio``, ``sendDocument``; target = chat id) with
``wait_sent`` / ``await_sent``::

    with TelegramFake() as tg:
        config = {"telegram": {"botToken": tg.token, "apiBaseUrl": tg.url}}
        tg.send_text(chat_id=42, user_id=7, text="hello")
        [reply] = tg.wait_sent(42, "sendMessage")
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from html.parser import HTMLParser
from typing import Any

import aiohttp
from aiohttp import web

from magec.testing.fake_platforms._base import PlatformServer, Sent, maybe_json, read_params

MAX_TEXT = 4096
_JSON_FIELDS = ("chat_id", "offset", "timeout", "limit", "reply_markup", "allowed_updates",
                "message_thread_id", "reply_parameters", "reply_to_message_id", "duration", "commands")
_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
              "tg-spoiler", "span", "blockquote", "tg-emoji"}


class _TelegramHTML(HTMLParser):
    """Telegram's HTML rules: only its tags, properly nested (else 'can't parse entities')."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            self.error = self.error or f"unsupported start tag \"{tag}\""
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.error = self.error or f"unexpected end tag \"{tag}\""


def html_error(text: str) -> str | None:
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.error is None and parser.stack:
        return f"can't find end tag corresponding to start tag \"{parser.stack[-1]}\""
    return parser.error


class TelegramFake(PlatformServer):
    def __init__(self, token: str = "123456:TEST-fake-telegram-token", *, username: str = "magec_test_bot",
                 bot_id: int = 7000001) -> None:
        super().__init__()
        self.token = token
        self.username = username
        self.bot_id = bot_id
        self.updates: list[dict[str, Any]] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.unsized: set[str] = set()  # file ids whose size Telegram does not declare (it may not)
        self.endless: set[str] = set()  # file ids served as their bytes repeated until the reader stops
        self.served: dict[str, int] = {}  # file id -> bytes written by the download route
        self.webhook: dict[str, Any] | None = None
        self.webhook_deliveries: list[int] = []  # HTTP status of each POST to the webhook
        self.actions: list[tuple[str, str]] = []  # (chat id, action) from sendChatAction
        self.commands: list[dict[str, Any]] = []
        self.polls = 0  # getUpdates calls served
        self.offset = 0  # the highest getUpdates offset seen: updates below it are confirmed (forgotten)
        self.active_polls = 0  # long polls open right now
        self.max_active_polls = 0  # the most open at once (more than 1: two pollers of one bot)
        self._outage = False
        self._flood = (0, 1)
        self.flooded = 0  # sends refused with 429
        self._ids = itertools.count(1)
        self._msg_ids = itertools.count(1000)
        self._changed: asyncio.Condition | None = None
        self._closing = False

    def clear(self) -> None:
        """Forget what was sent and every pending update (a new test starts from nothing)."""
        super().clear()
        self.updates.clear()
        self.actions.clear()
        self.webhook = None
        self.webhook_deliveries.clear()
        self._outage = False
        self._flood = (0, 1)
        self.flooded = 0
        self.max_active_polls = self.active_polls

    @property
    def outage(self) -> bool:
        """While True every Bot API call answers 502 and pending long polls end with it."""
        return self._outage

    @outage.setter
    def outage(self, value: bool) -> None:
        self._outage = value
        if self.loop is not None:
            self.call(self._touch())

    # -- server --------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)

    async def close_connections(self) -> None:
        self._closing = True
        await self._touch()

    async def _touch(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            self._changed.notify_all()

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _fail(code: int, description: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)

    def _me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Magec Test", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _method(self, request: web.Request) -> web.Response:
        if self._outage:  # what a proxy in front of an unreachable Bot API answers
            return web.Response(status=502, text="Bad Gateway")
        if request.match_info["token"] != self.token:
            return self._fail(401, "Unauthorized")
        params, files = await read_params(request)
        for key in _JSON_FIELDS:
            if key in params:
                params[key] = maybe_json(params[key])
        method = request.match_info["method"].lower()
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._fail(404, "Not Found: method not found")
        result: web.Response = await handler(params, files)
        return result

    async def _m_getme(self, params: dict[str, Any], files: Any) -> web.Response:
        return self._ok(self._me())

    async def _m_getupdates(self, params: dict[str, Any], files: Any) -> web.Response:
        if self.webhook is not None:
            return self._fail(409, "Conflict: can't use getUpdates method while webhook is active; "
                                   "use deleteWebhook to delete the webhook first")
        self.polls += 1
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        if offset:
            self.offset = max(self.offset, offset)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if self._changed is None:
            self._changed = asyncio.Condition()
        deadline = time.monotonic() + timeout
        self.active_polls += 1
        self.max_active_polls = max(self.max_active_polls, self.active_polls)
        try:
            async with self._changed:
                while not self.updates and not self._closing and not self._outage:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        await asyncio.wait_for(self._changed.wait(), left)
                    except TimeoutError:
                        break
        finally:
            self.active_polls -= 1
        if self._outage:
            return web.Response(status=502, text="Bad Gateway")
        return self._ok(self.updates[:limit])

    async def _m_setwebhook(self, params: dict[str, Any], files: Any) -> web.Response:
        url = params.get("url") or ""
        if not url:
            self.webhook = None
            return self._ok(True)
        self.webhook = {"url": url, "secret_token": params.get("secret_token") or ""}
        return self._ok(True)

    async def _m_deletewebhook(self, params: dict[str, Any], files: Any) -> web.Response:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates.clear()
        return self._ok(True)

    async def _m_getwebhookinfo(self, params: dict[str, Any], files: Any) -> web.Response:
        return self._ok({"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                         "pending_update_count": len(self.updates)})

    async def _m_setmycommands(self, params: dict[str, Any], files: Any) -> web.Response:
        self.commands = list(params.get("commands") or [])
        return self._ok(True)

    async def _m_sendchataction(self, params: dict[str, Any], files: Any) -> web.Response:
        self.actions.append((str(params.get("chat_id")), str(params.get("action"))))
        return self._ok(True)

    async def _m_answercallbackquery(self, params: dict[str, Any], files: Any) -> web.Response:
        return self._ok(True)

    async def _m_editmessagetext(self, params: dict[str, Any], files: Any) -> web.Response:
        self.record(Sent("editMessageText", str(params.get("chat_id")), params))
        return self._ok(True)

    def flood(self, times: int, retry_after: int = 1) -> None:
        """The next ``times`` sends answer 429 with ``retry_after`` (Telegram's flood control)."""
        self._flood = (times, retry_after)

    async def _m_sendmessage(self, params: dict[str, Any], files: Any) -> web.Response:
        if self._flood[0] > 0:
            self._flood = (self._flood[0] - 1, self._flood[1])
            self.flooded += 1
            return web.json_response({"ok": False, "error_code": 429, "parameters": {"retry_after": self._flood[1]},
                                      "description": f"Too Many Requests: retry after {self._flood[1]}"}, status=429)
        text = str(params.get("text") or "")
        if not text.strip():
            return self._fail(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            return self._fail(400, "Bad Request: message is too long")
        if str(params.get("parse_mode", "")).upper() == "HTML" and (err := html_error(text)):
            return self._fail(400, f"Bad Request: can't parse entities: {err}")
        chat = params.get("chat_id")
        self.record(Sent("sendMessage", str(chat), params))
        return self._ok(self._bot_message(chat, {"text": text}))

    async def _send_file(self, kind: str, field: str, params: dict[str, Any],
                         files: dict[str, tuple[str, str, bytes]]) -> web.Response:
        if field not in files:
            return self._fail(400, f"Bad Request: there is no {field} in the request")
        caption = str(params.get("caption") or "")
        if len(caption) > 1024:
            return self._fail(400, "Bad Request: message caption is too long")
        chat = params.get("chat_id")
        self.record(Sent(kind, str(chat), params, {field: files[field]}))
        file_id = f"sent-{next(self._ids)}"
        media = {"file_id": file_id, "file_unique_id": file_id, "duration": 1, "file_size": len(files[field][2])}
        return self._ok(self._bot_message(chat, {field: media}))

    async def _m_sendvoice(self, params: dict[str, Any], files: Any) -> web.Response:
        return await self._send_file("sendVoice", "voice", params, files)

    async def _m_sendaudio(self, params: dict[str, Any], files: Any) -> web.Response:
        return await self._send_file("sendAudio", "audio", params, files)

    async def _m_senddocument(self, params: dict[str, Any], files: Any) -> web.Response:
        return await self._send_file("sendDocument", "document", params, files)

    async def _m_getfile(self, params: dict[str, Any], files: Any) -> web.Response:
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            return self._fail(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        sized = {} if file_id in self.unsized else {"file_size": len(data)}
        return self._ok({"file_id": file_id, "file_unique_id": file_id, **sized, "file_path": path})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._fail(401, "Unauthorized")
        for file_id, (path, data) in self.files.items():
            if path != request.match_info["path"]:
                continue
            if file_id not in self.endless:
                self.served[file_id] = len(data)
                return web.Response(body=data, content_type="application/octet-stream")
            # no length, no end: only a reader that stops on its own gets out
            response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            await response.prepare(request)
            self.served[file_id] = 0
            try:
                while self.served[file_id] < 64 * 1024 * 1024:  # a bound, should a reader never stop
                    await response.write(data)
                    self.served[file_id] += len(data)
            except (ConnectionError, RuntimeError):
                pass
            return response
        return self._fail(404, "Not Found")

    def _bot_message(self, chat: Any, extra: dict[str, Any]) -> dict[str, Any]:
        return {"message_id": next(self._msg_ids), "date": int(time.time()), "from": self._me(),
                "chat": {"id": int(chat) if str(chat).lstrip("-").isdigit() else 0, "type": "private"}, **extra}

    # -- what users do -------------------------------------------------------------------------
    def _user_message(self, chat_id: int, user_id: int, chat_type: str, thread_id: int | None,
                      username: str) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = username.title()
        else:
            chat["title"] = f"group {chat_id}"
        msg: dict[str, Any] = {
            "message_id": next(self._msg_ids), "date": int(time.time()), "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": username.title(), "username": username},
        }
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        return msg

    def send_text(self, chat_id: int, user_id: int, text: str, *, chat_type: str = "private",
                  thread_id: int | None = None, username: str = "alice") -> int:
        """A user writes ``text`` (``/commands`` get a bot_command entity); returns the update id."""
        msg = self._user_message(chat_id, user_id, chat_type, thread_id, username)
        msg["text"] = text
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self.call(self._push({"message": msg}))

    def send_voice(self, chat_id: int, user_id: int, audio: bytes, *, duration: int = 2,
                   chat_type: str = "private", thread_id: int | None = None, username: str = "alice",
                   sized: bool = True, endless: bool = False) -> int:
        """A user sends a voice note (``audio`` as Telegram stores it: OGG/Opus). ``sized=False``:
        neither the message nor ``getFile`` declares its size (``file_size`` is optional in the Bot
        API); ``endless=True``: the download repeats ``audio`` until the reader stops."""
        file_id = f"voice-{next(self._ids)}"
        self.files[file_id] = (f"voice/{file_id}.oga", audio)
        if not sized:
            self.unsized.add(file_id)
        if endless:
            self.endless.add(file_id)
        msg = self._user_message(chat_id, user_id, chat_type, thread_id, username)
        msg["voice"] = {"file_id": file_id, "file_unique_id": file_id, "duration": duration,
                        "mime_type": "audio/ogg", **({"file_size": len(audio)} if sized else {})}
        return self.call(self._push({"message": msg}))

    def press_button(self, chat_id: int, user_id: int, data: str, *, username: str = "alice") -> int:
        """A user presses an inline keyboard button carrying ``data``."""
        msg = self._bot_message(chat_id, {"text": "…"})
        query = {"id": f"cb-{next(self._ids)}", "chat_instance": "ci", "data": data, "message": msg,
                 "from": {"id": user_id, "is_bot": False, "first_name": username.title(), "username": username}}
        return self.call(self._push({"callback_query": query}))

    def confirmed(self, update_id: int) -> bool:
        """Whether the bot confirmed ``update_id`` (a later ``getUpdates`` offset): Telegram forgets it."""
        return self.offset > update_id

    def send_update(self, update: dict[str, Any]) -> int:
        """Deliver ``update`` (without ``update_id``) exactly as given, e.g. one whose shape this
        version of python-telegram-bot cannot parse; returns the update id."""
        return self.call(self._push(dict(update)))

    async def _push(self, update: dict[str, Any]) -> int:
        update_id = next(self._ids)
        update = {"update_id": update_id, **update}
        if self.webhook is not None:
            headers = {"Content-Type": "application/json"}
            if self.webhook["secret_token"]:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
            try:
                async with aiohttp.ClientSession() as http, http.post(
                    self.webhook["url"], data=json.dumps(update), headers=headers
                ) as resp:
                    self.webhook_deliveries.append(resp.status)
            except aiohttp.ClientError:
                self.webhook_deliveries.append(0)
            self.notify()
            return update_id
        self.updates.append(update)
        await self._touch()
        return update_id
