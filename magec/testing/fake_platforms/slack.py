"""A loopback Slack: the Web API at ``{url}/api/{method}`` and Socket Mode at ``{url}/socket``.

Web API (token as ``Authorization: Bearer`` or a ``token`` field; JSON, urlencoded or multipart;
errors as HTTP 200 ``{"ok": false, "error": ...}`` like Slack): auth.test (bot token),
apps.connections.open (app token; returns the ``ws://`` Socket Mode URL), chat.postMessage
(``msg_too_long`` over 40,000 characters), conversations.replies (a thread, parent first, ``limit``
per page, paged with ``cursor`` / ``next_cursor``), users.info (``missing_scope`` unless ``users:read``
is in ``fake.scopes``; ``fake.names`` overrides a user's handle), files.getUploadURLExternal + the
upload URL + files.completeUploadExternal (what ``files_upload_v2`` does), and ``url_private``
downloads (bot token required).

Socket Mode: ``hello`` on connect, ``events_api`` envelopes for injected events, envelope acks
recorded in ``fake.acks``; :meth:`SlackFake.drop` closes the connections (``fake.connections``
counts them).

``fake.calls`` lists every request (``/api/users.info``…); ``fake.rate_limited[method] = seconds`` answers
that method HTTP 429 ``ratelimited`` with ``Retry-After``, as Slack does.

Tests inject users with :meth:`SlackFake.send_message` (``mention=True`` sends ``app_mention`` in a
channel, ``channel_type="im"`` a DM; ``files=[(name, mimetype, bytes)]`` attaches audio) and read
``fake.sent`` (kinds ``chat.postMessage`` and ``files.upload``; target = channel id).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from aiohttp import WSMsgType, web

from magec.testing.fake_platforms._base import PlatformServer, Sent, maybe_json, read_params

MAX_TEXT = 40000


class SlackFake(PlatformServer):
    def __init__(self, bot_token: str = "xoxb-fake-slack-bot-token", app_token: str = "xapp-fake-slack-app-token",
                 *, bot_user: str = "UBOT0001") -> None:
        super().__init__()
        self.bot_token = bot_token
        self.app_token = app_token
        self.bot_user = bot_user
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (channel, thread ts) -> messages
        self.files: dict[str, tuple[str, str, bytes]] = {}  # file id -> (name, mimetype, bytes)
        self.acks: list[str] = []
        self.connections = 0
        self.scopes: set[str] = {"users:read"}
        self.names: dict[str, str] = {}  # user id -> handle (default: the id, lower-cased)
        self.rate_limited: dict[str, int] = {}  # method -> Retry-After seconds
        self._sockets: list[web.WebSocketResponse] = []
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)

    @property
    def api_base(self) -> str:
        return self.url + "/api"

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._method)
        app.router.add_post("/upload/{fid}", self._upload)
        app.router.add_get("/files-pri/{fid}/{name}", self._download)
        app.router.add_get("/socket", self._socket)

    async def close_connections(self) -> None:
        for ws in list(self._sockets):
            await ws.close()

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    # -- Web API -------------------------------------------------------------------------------
    async def _method(self, request: web.Request) -> web.Response:
        params, files = await read_params(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else str(params.get("token", ""))
        method = request.match_info["method"]
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        if token != wanted:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if method in self.rate_limited:
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(self.rate_limited[method])})
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        result: dict[str, Any] = await handler(params, files)
        return web.json_response(result)

    async def _m_auth_test(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake Team", "user": "magec",
                "team_id": "T0001", "user_id": self.bot_user, "bot_id": "B0001"}

    async def _m_apps_connections_open(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?ticket=t{next(self._ids)}"}

    async def _m_users_info(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        if "users:read" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "users:read", "provided": ",".join(sorted(self.scopes))}
        uid = str(params.get("user"))
        return {"ok": True, "user": {"id": uid, "name": self.names.get(uid, uid.lower()), "real_name": f"User {uid}"}}

    async def _m_chat_postMessage(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        text = str(params.get("text") or "")
        channel = str(params.get("channel") or "")
        if not text and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if len(text) > MAX_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        ts = self.next_ts()
        msg = {"type": "message", "user": self.bot_user, "bot_id": "B0001", "text": text, "ts": ts}
        thread = str(params.get("thread_ts") or "")
        if thread:
            msg["thread_ts"] = thread
            self.threads.setdefault((channel, thread), []).append(msg)
        self.record(Sent("chat.postMessage", channel, params))
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}

    async def _m_conversations_replies(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        key = (str(params.get("channel")), str(params.get("ts")))
        if key not in self.threads:
            return {"ok": False, "error": "thread_not_found"}
        limit = int(params.get("limit") or 1000)
        start = int(params.get("cursor") or 0)  # Slack's cursors are opaque; an offset here
        msgs = self.threads[key]
        page = msgs[start:start + limit]
        more = start + limit < len(msgs)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    async def _m_files_getUploadURLExternal(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        fid = f"F{next(self._ids):06d}"
        self.files[fid] = (str(params.get("filename")), "", b"")
        return {"ok": True, "upload_url": f"{self.url}/upload/{fid}", "file_id": fid}

    async def _upload(self, request: web.Request) -> web.Response:
        fid = request.match_info["fid"]
        if fid not in self.files:
            return web.Response(status=404)
        body = await request.read()
        name = self.files[fid][0]
        self.files[fid] = (name, request.headers.get("Content-Type", ""), body)
        return web.Response(text=f"OK - {len(body)}")

    async def _m_files_completeUploadExternal(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        entries = maybe_json(params.get("files")) or []
        channel = str(params.get("channel_id") or "")
        out = []
        for entry in entries:
            fid = entry["id"]
            name, ctype, data = self.files[fid]
            self.record(Sent("files.upload", channel, {**params, "title": entry.get("title")}, {"file": (name, ctype, data)}))
            out.append({"id": fid, "name": name, "title": entry.get("title") or name})
        return {"ok": True, "files": out}

    async def _download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            return web.Response(status=302, headers={"Location": "/login"})  # Slack sends a login page
        entry = self.files.get(request.match_info["fid"])
        if entry is None:
            return web.Response(status=404)
        return web.Response(body=entry[2], content_type=entry[1] or "application/octet-stream")

    # -- Socket Mode ---------------------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self.connections += 1
        await ws.send_json({"type": "hello", "num_connections": len(self._sockets),
                            "debug_info": {"host": "fake-slack"}, "connection_info": {"app_id": "A0001"}})
        self.notify()
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                break
            data = json.loads(frame.data)
            if "envelope_id" in data:
                self.acks.append(data["envelope_id"])
                self.notify()
        self._sockets = [w for w in self._sockets if w is not ws]
        return ws

    def drop(self) -> None:
        """Close every Socket Mode connection (a network blip; Slack's clients reconnect)."""

        async def close_all() -> None:
            for ws in list(self._sockets):
                await ws.close(code=1011, message=b"server error")

        self.call(close_all())

    @property
    def connected(self) -> int:
        return len([ws for ws in self._sockets if not ws.closed])

    def wait_connected(self, timeout: float = 20.0) -> None:
        self.wait_for(lambda _: self.connected > 0, timeout)

    async def await_connected(self, timeout: float = 20.0) -> None:
        await asyncio.to_thread(self.wait_connected, timeout)

    async def _envelope(self, event: dict[str, Any]) -> str:
        envelope_id = f"env-{next(self._ids)}"
        payload = {"envelope_id": envelope_id, "type": "events_api", "accepts_response_payload": False,
                   "retry_attempt": 0, "retry_reason": "",
                   "payload": {"token": "verification", "team_id": "T0001", "api_app_id": "A0001",
                               "type": "event_callback", "event_id": f"Ev{next(self._ids)}",
                               "event_time": int(time.time()), "event": event}}
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_json(payload)
                break  # Slack delivers each envelope on one connection
        return envelope_id

    # -- what users do -------------------------------------------------------------------------
    def send_message(self, channel: str, user: str, text: str = "", *, mention: bool = False,
                     channel_type: str = "channel", thread_ts: str | None = None,
                     files: list[tuple[str, str, bytes]] | None = None, file_url: str | None = None,
                     deliver: bool = True) -> str:
        """A user posts (``mention``: an ``app_mention`` event; ``channel_type="im"``: a DM); the ts.
        ``file_url`` replaces the files' ``url_private`` (a file object naming another server);
        ``deliver=False`` only stores it in its thread (the bot is not told)."""
        ts = self.next_ts()
        if mention:
            text = f"<@{self.bot_user}> {text}".strip()
        event: dict[str, Any] = {"type": "app_mention" if mention else "message", "user": user, "text": text,
                                 "ts": ts, "channel": channel, "event_ts": ts, "team": "T0001"}
        if not mention:
            event["channel_type"] = channel_type
        if thread_ts:
            event["thread_ts"] = thread_ts
        attached = []
        for name, mimetype, data in files or []:
            fid = f"F{next(self._ids):06d}"
            self.files[fid] = (name, mimetype, data)
            url = file_url or f"{self.url}/files-pri/{fid}/{name}"
            attached.append({"id": fid, "name": name, "mimetype": mimetype, "filetype": name.rsplit(".", 1)[-1],
                             "size": len(data), "url_private": url, "url_private_download": url,
                             "subtype": "slack_audio" if mimetype.startswith("audio/") else None})
        if attached:
            event["files"] = attached
            if not mention:
                event["subtype"] = "file_share"
        root = thread_ts or ts
        self.threads.setdefault((channel, root), []).append({k: v for k, v in event.items() if k != "type"}
                                                            | {"type": "message"})
        if deliver:
            self.call(self._envelope(event))
        return ts

    def bot_posts(self, channel: str, thread_ts: str, bot_id: str, username: str, text: str) -> str:
        """Another app's bot posts in a thread (Slack's ``bot_message`` shape: a ``bot_id``, a
        display ``username``, no ``user``); stored only, as bots' messages are not delivered to
        this app's bot here. The ts."""
        ts = self.next_ts()
        self.threads.setdefault((channel, thread_ts), []).append(
            {"type": "message", "subtype": "bot_message", "bot_id": bot_id, "username": username,
             "text": text, "ts": ts, "thread_ts": thread_ts})
        return ts
