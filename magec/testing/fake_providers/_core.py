"""Shared machinery of the loopback fake providers: recorded requests, scripted replies, the server.

See :mod:`magec.testing.fake_providers` for the user guide.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

# One source of truth for fake vectors and audio, shared with the in-process doubles: TTS audio
# embeds the spoken text after AUDIO_MARKER and STT reads it back, so TTS → STT round-trips words.
from magec.backends.fake import (
    AUDIO_MARKER,
    CALL_PATTERN,
    deterministic_vector,
    fake_audio,
    transcript_of,
)

__all__ = ["AUDIO_MARKER", "deterministic_vector", "fake_audio", "transcript_of"]

#: how long a ``Reply(hang_after=...)`` holds the connection silent
HANG_SECONDS = 30.0

Route = str  # "chat" | "embeddings" | "stt" | "tts" | "models"
ROUTES = ("chat", "embeddings", "stt", "tts", "models")


@dataclass
class RecordedRequest:
    """One HTTP request as a fake provider saw it (headers with lower-case names)."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    route: Route | None = None
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    """multipart files: field name -> (filename, content type, content)."""
    body: bytes = b""


@dataclass
class ToolCall:
    """A tool call a fake model makes; ``id`` defaults to ``call_<n>`` / ``toolu_<n>``."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass
class Reply:
    """What a fake answers to one request. Every field is optional; unset ones take defaults.

    Success shapes: ``text`` (chat text or STT transcript), ``tool_calls``, ``vectors``
    (embeddings), ``audio`` (TTS bytes). Failure shapes: ``status`` >= 400 (the vendor's error body
    with ``error`` as message, or ``body`` verbatim; ``body`` with a 200 is sent verbatim as a
    non-streamed answer of the wrong shape), ``malformed`` (invalid JSON / SSE payload),
    ``cut_after`` (streams: drop the connection after that many events; non-streamed: send a
    truncated body). ``delay`` waits before answering (a hang *before* the headers when it outlasts
    the client's read deadline), ``chunk_delay`` between streamed chunks. ``hang_after`` sends the
    headers and that many events (0 for a non-streamed body), then sends nothing more for
    ``hang_for`` seconds (:data:`HANG_SECONDS`; a hang *after* the headers). ``drip`` sends the body one byte at a time,
    ``drip`` seconds apart (a provider that never trips a read deadline).
    ``finish_reason`` overrides the vendor-native finish reason (e.g. ``content_filter``).
    """

    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    chunks: list[str] | None = None
    vectors: list[list[float]] | None = None
    audio: bytes | None = None
    status: int = 200
    error: str | None = None
    error_type: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None
    malformed: bool = False
    finish_reason: str | None = None
    usage: tuple[int, int] = (3, 5)
    hang_after: int | None = None
    hang_for: float = HANG_SECONDS
    drip: float = 0.0
    #: streams: send every event in one write (a fast provider whose tokens arrive together)
    burst: bool = False

    @classmethod
    def fail(cls, status: int, message: str = "fake error", **kw: Any) -> Reply:
        return cls(status=status, error=message, **kw)

    def text_chunks(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        if not self.text:
            return []
        words = re.findall(r"\S+\s*", self.text) or [self.text]
        return words


Responder = Callable[[RecordedRequest], "Reply | str | None"]


def schema_instance(schema: Any, hints: dict[str, Any] | None = None, name: str = "value",
                    defs: dict[str, Any] | None = None) -> Any:
    """A value that satisfies the JSON ``schema`` (the fakes' structured output): object
    properties all present, values from ``hints`` (a JSON object the user wrote) when a key
    matches, else ``"<name>"`` / 1 / 1.0 / true / one array item / the first enum value."""
    hints = hints or {}
    if not isinstance(schema, dict):
        return name
    defs = {**(defs or {}), **(schema.get("$defs") or schema.get("definitions") or {})}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in defs:
        return schema_instance(defs[ref.rsplit("/", 1)[-1]], hints, name, defs)
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key) or [] if not (isinstance(o, dict) and o.get("type") == "null")]
        if options:
            return schema_instance(options[0], hints, name, defs)
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    kind = str(kind).lower() if kind else ("object" if "properties" in schema else "string")
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: hints[k] if k in hints else schema_instance(v, hints, k, defs) for k, v in props.items()}
    if kind == "array":
        return [schema_instance(schema.get("items") or {}, hints, name, defs)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    return f"<{name}>"


class FakeProvider:
    """Base of the vendor fakes: request log, reply queue, responder, default behaviour.

    Thread-safe: the server runs in its own thread while tests script and read from theirs.
    """

    vendor = "fake"

    def __init__(
        self,
        name: str = "fake",
        *,
        models: Iterable[str] = ("fake-chat", "fake-embed", "fake-tts", "fake-stt"),
        embedding_dim: int = 8,
        api_key: str | None = None,
        responder: Responder | None = None,
    ) -> None:
        self.name = name
        self.models = list(models)
        self.embedding_dim = embedding_dim
        self.api_key = api_key
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self._queue: list[tuple[Route | None, Reply]] = []
        self._lock = threading.Lock()
        self.app = FastAPI(title=f"fake {self.vendor} ({name})")
        self._add_routes(self.app)

    # ----- scripting -------------------------------------------------------------------------
    def script(self, *replies: Reply | str, route: Route | None = None) -> None:
        """Queue replies (``str`` = text reply), consumed in order by requests to ``route``
        (``None`` = any route but ``"models"``: magec lists models on its own — a live health check
        right after a backend is saved or a call fails — at a moment no test controls, and such a
        listing must not take a reply meant for the test's own call; script ``route="models"``
        for those)."""
        with self._lock:
            for r in replies:
                self._queue.append((route, Reply(text=r) if isinstance(r, str) else r))

    def clear(self) -> None:
        """Forget recorded requests and queued replies."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()

    def requests_to(self, route: Route) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.route == route]

    def calls(self) -> list[RecordedRequest]:
        """The recorded requests except model listings — magec's live health check lists models on
        its own (at once after a backend is saved or a call fails), whatever a test is doing."""
        with self._lock:
            return [r for r in self.requests if r.route != "models"]

    @property
    def last(self) -> RecordedRequest:
        with self._lock:
            return self.requests[-1]

    def default_text(self, req: RecordedRequest) -> str:
        """The echo reply: ``"<name> says: <last user text>"`` (or the tool result just received)."""
        return f"{self.name} says: {self.last_user_text(req)}"

    # vendor hooks ----------------------------------------------------------------------------
    def last_user_text(self, req: RecordedRequest) -> str:  # pragma: no cover - overridden
        return ""

    def tool_names(self, req: RecordedRequest) -> list[str]:  # pragma: no cover - overridden
        return []

    def ends_with_tool_result(self, req: RecordedRequest) -> bool:  # pragma: no cover
        return False

    def _add_routes(self, app: FastAPI) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def error_body(self, reply: Reply) -> Any:  # pragma: no cover - overridden
        return {"error": {"message": reply.error or "fake error"}}

    # ----- request handling ------------------------------------------------------------------
    async def record(
        self, request: Request, route: Route | Callable[[RecordedRequest], Route] | None
    ) -> RecordedRequest:
        body = await request.body()
        rec = RecordedRequest(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
            route=route if isinstance(route, str) or route is None else None,
            body=body,
        )
        ctype = rec.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            form = await request.form()
            for key, value in form.multi_items():
                if isinstance(value, str):
                    rec.form[key] = value
                else:
                    data = await value.read()
                    rec.files[key] = (value.filename or "", value.content_type or "", data)
        elif body:
            try:
                rec.json = json.loads(body)
            except ValueError:
                rec.json = None
        if callable(route):
            rec.route = route(rec)
        with self._lock:
            self.requests.append(rec)
        return rec

    def decide(self, req: RecordedRequest) -> Reply:
        """The reply for ``req``: queued script first, then the responder, then defaults."""
        with self._lock:
            for i, (route, reply) in enumerate(self._queue):
                if route == req.route or (route is None and req.route != "models"):
                    del self._queue[i]
                    return reply
        if self.responder is not None:
            out = self.responder(req)
            if isinstance(out, str):
                return Reply(text=out)
            if out is not None:
                return out
        return self.default_reply(req)

    def default_reply(self, req: RecordedRequest) -> Reply:
        if req.route != "chat":
            return Reply()
        tools = self.tool_names(req)
        text = self.last_user_text(req)
        if tools and not self.ends_with_tool_result(req):
            # "call <tool> {json args}" in the user text makes the fake call that tool: enough for
            # agents' tool loops and the probe's tool round trip without scripting.
            m = CALL_PATTERN.search(text)
            if m and m.group(1) in tools:
                args: dict[str, Any] = {}
                jm = re.search(r"\{.*\}", text, re.S)
                if jm:
                    try:
                        args = json.loads(jm.group(0))
                    except ValueError:
                        args = {}
                return Reply(tool_calls=[ToolCall(m.group(1), args)])
        schema = self.wanted_schema(req)
        if schema is not None:
            # structured output asked for: JSON (satisfying the schema, if one was given)
            hints: dict[str, Any] = {}
            jm = re.search(r"\{.*\}", text, re.S)
            if jm:
                try:
                    loaded = json.loads(jm.group(0))
                    hints = loaded if isinstance(loaded, dict) else {}
                except ValueError:
                    hints = {}
            value = schema_instance(schema, hints) if schema else {"answer": self.default_text(req), **hints}
            return Reply(text=json.dumps(value))
        return Reply(text=self.default_text(req))

    def wanted_schema(self, req: RecordedRequest) -> dict[str, Any] | None:
        """The JSON schema the request asks the answer to follow (``{}``: any JSON object), or
        ``None`` for a plain text answer. Vendor fakes read their own request field."""
        return None

    def auth_failure(self, req: RecordedRequest) -> Reply | None:
        """When the fake was given an ``api_key``, a request without it gets the vendor's 401."""
        if self.api_key is None:
            return None
        presented = self.presented_key(req)
        if presented == self.api_key:
            return None
        return Reply.fail(401, "invalid api key", error_type="authentication_error")

    def presented_key(self, req: RecordedRequest) -> str | None:
        auth = req.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    async def handle(
        self,
        request: Request,
        route: Route | Callable[[RecordedRequest], Route],
        produce: Callable[[RecordedRequest, Reply], Any],
    ) -> Any:
        """Record, decide, apply delay / error / malformed, then let ``produce`` build the answer."""
        req = await self.record(request, route)
        reply = self.auth_failure(req) or self.decide(req)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status >= 400:
            body = reply.body if reply.body is not None else self.error_body(reply)
            content = body if isinstance(body, bytes | str) else json.dumps(body)
            return Response(
                content, status_code=reply.status, headers=reply.headers, media_type="application/json"
            )
        if reply.body is not None and not self.is_stream(req):  # a success of the wrong shape
            content = reply.body if isinstance(reply.body, bytes | str) else json.dumps(reply.body)
            return Response(content, media_type="application/json", headers=reply.headers)
        if reply.malformed and not self.is_stream(req):
            return Response(
                '{"id": "broken", "choices": [', media_type="application/json", headers=reply.headers
            )
        answer = await produce(req, reply)
        if (reply.drip or reply.hang_after is not None) and not isinstance(answer, StreamingResponse):
            if isinstance(answer, Response):
                return self.slow_body(bytes(answer.body), answer.media_type or "application/json", reply)
        return answer

    @staticmethod
    def slow_body(data: bytes, media_type: str, reply: Reply) -> StreamingResponse:
        """A non-streamed body sent with ``reply``'s ``hang_after`` (headers, then silence) or
        ``drip`` (one byte at a time)."""

        async def gen() -> AsyncIterator[bytes]:
            if reply.hang_after is not None:
                await asyncio.sleep(reply.hang_for)
                return
            for i in range(len(data)):
                yield data[i : i + 1]
                await asyncio.sleep(reply.drip)

        return StreamingResponse(gen(), media_type=media_type, headers=reply.headers)

    def is_stream(self, req: RecordedRequest) -> bool:
        return bool(isinstance(req.json, dict) and req.json.get("stream"))

    # ----- response helpers ------------------------------------------------------------------
    @staticmethod
    def json_response(payload: Any, reply: Reply) -> Response:
        text = json.dumps(payload)
        if reply.cut_after is not None:
            text = text[: max(1, len(text) // 2)]
        return Response(text, media_type="application/json", headers=reply.headers)

    @staticmethod
    def sse(events: Sequence[tuple[str | None, str]], reply: Reply) -> StreamingResponse:
        """Stream ``(event name, data)`` pairs as SSE, honouring ``chunk_delay``, ``cut_after``,
        ``malformed``, ``hang_after`` and ``drip``."""

        async def gen() -> AsyncIterator[bytes]:
            if reply.burst:
                yield b"".join(f"{f'event: {e}{chr(10)}' if e else ''}data: {d}\n\n".encode() for e, d in events)
                return
            for i, (event, data) in enumerate(events):
                if reply.cut_after is not None and i >= reply.cut_after:
                    # Abort the response mid-body: the client sees an incomplete chunked read.
                    raise ConnectionAbortedError("fake stream cut")
                if reply.malformed and i == min(1, len(events) - 1):
                    data = '{"broken": '
                if reply.hang_after is not None and i >= reply.hang_after:
                    await asyncio.sleep(reply.hang_for)
                    return
                head = f"event: {event}\n" if event else ""
                payload = f"{head}data: {data}\n\n".encode()
                if reply.drip:
                    for b in range(len(payload)):
                        yield payload[b : b + 1]
                        await asyncio.sleep(reply.drip)
                    continue
                yield payload
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)

        return StreamingResponse(gen(), media_type="text/event-stream", headers=reply.headers)

    @staticmethod
    def byte_stream(data: bytes, media_type: str, reply: Reply, chunk: int = 64) -> StreamingResponse:
        async def gen() -> AsyncIterator[bytes]:
            pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
            for i, piece in enumerate(pieces):
                if reply.cut_after is not None and i >= reply.cut_after:
                    raise ConnectionAbortedError("fake stream cut")
                yield piece
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)

        return StreamingResponse(gen(), media_type=media_type, headers=reply.headers)


class FakeServer:
    """Runs a fake provider (or any ASGI app) with uvicorn on ``127.0.0.1:<free port>`` in a thread.

    ``url`` is ``http://127.0.0.1:<port>`` (no path). Use as a context manager or call
    :meth:`stop`. ``requests``/``script``/``clear`` delegate to the provider.
    """

    def __init__(self, provider: FakeProvider | FastAPI | Any, *, start: bool = True) -> None:
        self.provider = provider if isinstance(provider, FakeProvider) else None
        self.app = provider.app if isinstance(provider, FakeProvider) else provider
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app, log_level="critical", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    def start(self) -> FakeServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"fake-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        for _ in range(500):
            if self._server.started:
                break
            if not self._thread.is_alive():
                raise RuntimeError("fake server failed to start")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._thread = None
        self._sock.close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # delegation to the provider ----------------------------------------------------------------
    def _need_provider(self) -> FakeProvider:
        if self.provider is None:
            raise AttributeError("this FakeServer runs a plain app, not a FakeProvider")
        return self.provider

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._need_provider().requests

    def calls(self) -> list[RecordedRequest]:
        return self._need_provider().calls()

    def requests_to(self, route: Route) -> list[RecordedRequest]:
        """The recorded requests to one route (``"chat"``, ``"models"``…): what a test reads when
        magec's health check may list models in between, as it does on any worker at any time."""
        return self._need_provider().requests_to(route)

    def script(self, *replies: Reply | str, route: Route | None = None) -> None:
        self._need_provider().script(*replies, route=route)

    def clear(self) -> None:
        self._need_provider().clear()
