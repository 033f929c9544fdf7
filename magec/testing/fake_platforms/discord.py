"""A loopback Discord: REST under ``{url}/api/v10`` and the Gateway WebSocket at ``{url}/gateway``.

REST (``Authorization: Bot <token>``, else 401 ``{"message": "401: Unauthorized", "code": 0}``):
``GET /gateway/bot`` (the ``ws://`` Gateway URL), ``GET /users/@me``, ``GET /channels/{id}``,
``GET /channels/{id}/messages?limit=`` (newest first), ``POST /channels/{id}/messages`` (JSON or
multipart ``payload_json`` + ``files[n]``; 400 over 2000 characters),
``POST /channels/{id}/messages/{mid}/threads`` (a public thread whose id is the message id),
``POST /channels/{id}/typing``, ``PUT .../reactions/...``, and attachment downloads at
``{url}/attachments/{id}/{filename}`` (the CDN).

Gateway: HELLO (op 10) → IDENTIFY (op 2; close 4004 for a bad token) → READY dispatch; heartbeats
(op 1 → op 11 ACK); RESUME (op 6 → RESUMED, recorded in ``fake.resumes``); MESSAGE_CREATE
dispatches for injected messages; :meth:`DiscordFake.drop` closes every connection abnormally.

Tests inject users with :meth:`DiscordFake.send_message` (``mention=True`` adds the bot mention,
``guild_id=None`` makes it a DM, ``attachments=[(filename, content_type, bytes)]`` uploads audio)
and read ``fake.sent`` (kind ``message``; target = channel id; files from multipart uploads).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from aiohttp import WSMsgType, web

from magec.testing.fake_platforms._base import PlatformServer, Sent, read_params

API = "/api/v10"
MAX_CONTENT = 2000
DM, TEXT, PUBLIC_THREAD = 1, 0, 11


class DiscordFake(PlatformServer):
    def __init__(self, token: str = "MTIz.fake-discord-bot-token", *, username: str = "magec-bot",
                 bot_id: str = "900000000000000001", heartbeat_ms: int = 41250) -> None:
        super().__init__()
        self.token = token
        self.username = username
        self.bot_id = bot_id
        self.heartbeat_ms = heartbeat_ms
        self.channels: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}  # channel -> messages, oldest first
        self.attachments: dict[str, bytes] = {}
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0
        #: False: heartbeats go unacknowledged (a zombied connection, as Discord's docs describe)
        self.ack_heartbeats = True
        self._sockets: list[tuple[web.WebSocketResponse, list[int]]] = []  # (ws, [seq])
        self._ids = itertools.count(1000)

    @property
    def api_base(self) -> str:
        return self.url + API

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get(f"{API}/gateway/bot", self._gateway_bot)
        r.add_get(f"{API}/users/@me", self._me_route)
        r.add_get(f"{API}/channels/{{cid}}", self._channel)
        r.add_get(f"{API}/channels/{{cid}}/messages", self._messages)
        r.add_post(f"{API}/channels/{{cid}}/messages", self._create_message)
        r.add_post(f"{API}/channels/{{cid}}/messages/{{mid}}/threads", self._start_thread)
        r.add_post(f"{API}/channels/{{cid}}/typing", self._typing)
        r.add_route("*", f"{API}/channels/{{cid}}/messages/{{mid}}/reactions/{{rest:.*}}", self._typing)
        r.add_get("/attachments/{aid}/{name}", self._attachment)
        r.add_get("/gateway", self._gateway)

    async def close_connections(self) -> None:
        for ws, _ in list(self._sockets):
            await ws.close()

    # -- REST ----------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    @staticmethod
    def _unauthorized() -> web.Response:
        return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)

    def me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "username": self.username, "discriminator": "0", "global_name": None,
                "bot": True, "avatar": None}

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        return web.json_response({
            "url": f"ws://127.0.0.1:{self.port}/gateway", "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        })

    async def _me_route(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        return web.json_response(self.me())

    def _channel_of(self, cid: str) -> dict[str, Any]:
        return self.channels.setdefault(cid, {"id": cid, "type": TEXT, "guild_id": "800"})

    async def _channel(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        return web.json_response(self._channel_of(request.match_info["cid"]))

    async def _messages(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        limit = min(int(request.query.get("limit", "50")), 100)
        msgs = self.history.get(request.match_info["cid"], [])
        return web.json_response(list(reversed(msgs))[:limit])

    async def _create_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        params, files = await read_params(request)
        if "payload_json" in params:
            params = {**params, **json.loads(params.pop("payload_json"))}
        content = str(params.get("content") or "")
        if len(content) > MAX_CONTENT:
            return web.json_response({"code": 50035, "message": "Invalid Form Body", "errors": {"content": {
                "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}},
                status=400)
        if not content and not files:
            return web.json_response({"code": 50006, "message": "Cannot send an empty message"}, status=400)
        cid = request.match_info["cid"]
        self.record(Sent("message", cid, params, files))
        msg = self._message(cid, self.me(), content, attachments=[
            {"id": str(next(self._ids)), "filename": f[0], "content_type": f[1], "size": len(f[2])}
            for f in files.values()
        ])
        self.history.setdefault(cid, []).append(msg)
        return web.json_response(msg)

    async def _start_thread(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body = await request.json()
        mid, parent = request.match_info["mid"], request.match_info["cid"]
        thread = {"id": mid, "type": PUBLIC_THREAD, "guild_id": self._channel_of(parent).get("guild_id"),
                  "parent_id": parent, "name": body.get("name", "")}
        self.channels[mid] = thread
        self.record(Sent("thread", parent, {"id": mid, **body}))
        return web.json_response(thread, status=201)

    async def _typing(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        return web.Response(status=204)

    async def _attachment(self, request: web.Request) -> web.Response:
        data = self.attachments.get(request.match_info["aid"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    # -- Gateway -------------------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        seq = [0]
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}, "s": None, "t": None})
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                break
            payload = json.loads(frame.data)
            op, data = payload.get("op"), payload.get("d")
            if op == 1:
                self.heartbeats += 1
                if self.ack_heartbeats:
                    await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif op in (2, 6):
                token = (data or {}).get("token", "")
                if token != self.token and token != f"Bot {self.token}":
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                if op == 6:
                    self.resumes.append(data)
                if op == 2:
                    self.identifies.append(data)
                    await self._dispatch(ws, seq, "READY", {
                        "v": 10, "user": self.me(), "guilds": [], "session_id": f"sess-{next(self._ids)}",
                        "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                        "application": {"id": self.bot_id, "flags": 0},
                    })
                else:
                    await self._dispatch(ws, seq, "RESUMED", {})
                self._sockets.append((ws, seq))
                self.notify()
        self._sockets = [(w, s) for w, s in self._sockets if w is not ws]
        return ws

    @staticmethod
    async def _dispatch(ws: web.WebSocketResponse, seq: list[int], event: str, data: Any) -> None:
        seq[0] += 1
        await ws.send_json({"op": 0, "s": seq[0], "t": event, "d": data})

    def drop(self) -> None:
        """Close every Gateway connection abnormally (code 4000), as a network blip would."""

        async def close_all() -> None:
            for ws, _ in list(self._sockets):
                await ws.close(code=4000, message=b"Unknown error")

        self.call(close_all())

    @property
    def connected(self) -> int:
        """Gateway sessions that identified and are still open."""
        return len([ws for ws, _ in self._sockets if not ws.closed])

    # -- what users do -------------------------------------------------------------------------
    def _message(self, cid: str, author: dict[str, Any], content: str, **extra: Any) -> dict[str, Any]:
        channel = self._channel_of(cid)
        msg: dict[str, Any] = {
            "id": str(next(self._ids)), "channel_id": cid, "author": author, "content": content,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "type": 0, "mentions": [],
            "attachments": [], "flags": 0, **extra,
        }
        if channel.get("guild_id"):
            msg["guild_id"] = channel["guild_id"]
        return msg

    def create_thread(self, thread_id: str, parent_id: str, guild_id: str = "800") -> None:
        """An existing public thread (its history is what tests put there with send_message)."""
        self.channels[str(thread_id)] = {"id": str(thread_id), "type": PUBLIC_THREAD, "guild_id": guild_id,
                                         "parent_id": str(parent_id)}

    def send_message(self, channel_id: str, user_id: str, content: str = "", *, guild_id: str | None = "800",
                     mention: bool = False, username: str = "alice",
                     attachments: list[tuple[str, str, bytes]] | None = None, voice: bool = False,
                     deliver: bool = True) -> str:
        """A user posts in ``channel_id`` (``guild_id=None``: a DM); returns the message id.
        ``deliver=False`` only stores it in the channel history (the bot is not told)."""
        cid = str(channel_id)
        channel = self.channels.setdefault(cid, {"id": cid, "type": TEXT if guild_id else DM})
        if guild_id:
            channel.setdefault("guild_id", guild_id)
        else:
            channel["type"] = DM
            channel.pop("guild_id", None)
        author = {"id": str(user_id), "username": username, "discriminator": "0", "global_name": username.title()}
        if mention:
            content = f"<@{self.bot_id}> {content}".strip()
        files = []
        for filename, ctype, data in attachments or []:
            aid = str(next(self._ids))
            self.attachments[aid] = data
            url = f"{self.url}/attachments/{aid}/{filename}"
            files.append({"id": aid, "filename": filename, "content_type": ctype, "size": len(data), "url": url,
                          "proxy_url": url, **({"duration_secs": 2.0, "waveform": "AAAA"} if voice else {})})
        msg = self._message(cid, author, content, attachments=files,
                            mentions=[self.me()] if mention else [], flags=8192 if voice else 0)
        self.history.setdefault(cid, []).append(msg)
        if deliver:
            self.call(self._broadcast(msg))
        return str(msg["id"])

    async def _broadcast(self, msg: dict[str, Any]) -> None:
        for ws, seq in list(self._sockets):
            if not ws.closed:
                await self._dispatch(ws, seq, "MESSAGE_CREATE", msg)

    def wait_connected(self, timeout: float = 20.0) -> None:
        """Wait until a bot identified on the Gateway."""
        self.wait_for(lambda _: self.connected > 0, timeout)

    async def await_connected(self, timeout: float = 20.0) -> None:
        await asyncio.to_thread(self.wait_connected, timeout)
