"""A fast loopback mock of the OpenAI wire protocol, for benchmarks (run it in its own process).

``python -m bench.mock_provider --port 8001 --label A [--tokens 16] [--delay-ms 0] [--dim 384]``

Built for speed: raw asyncio protocol on uvloop, HTTP/1.1 keep-alive parsed by ``httptools`` (the
parser uvicorn uses), every response body precomputed and cached per shape. No framework, no
routing table, no pydantic. Routes (matched by path suffix, so ``/v1`` prefixes are optional):

* ``POST …/chat/completions`` — non-stream ``chat.completion`` or, with ``"stream": true``, SSE
  ``chat.completion.chunk``s (role chunk, one chunk per token, finish chunk, usage chunk, ``[DONE]``)
  sent with chunked transfer encoding. The first token is ``[<label>]`` so a client can tell which
  mock answered. The model name may override the defaults: ``…-t<N>`` = N tokens, ``…-d<MS>`` =
  per-token delay in milliseconds (e.g. ``mock-t200-d10``), so proxies in front pass them through.
* ``POST …/embeddings`` — ``dim``-sized vectors, ``float`` or ``base64`` (the SDK's default).
* ``GET …/models``, ``GET /health``; ``GET /stats`` → counters and ``first_chat_at`` (the
  ``time.monotonic()`` — CLOCK_MONOTONIC, comparable across processes — of the first chat request
  since the last ``POST /stats/reset``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httptools

_MODEL_T = re.compile(r"-t(\d+)")
_MODEL_D = re.compile(r"-d(\d+(?:\.\d+)?)")
_WORDS = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]
CREATED = 1_700_000_000


def _http(status: str, ctype: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@dataclass
class Shape:
    """Precomputed bytes of one response shape (label, token count)."""

    full: bytes  # whole non-stream HTTP response
    stream_head: bytes  # status line + headers + role chunk + first token
    stream_tokens: list[bytes]  # tokens 2..N, each an HTTP chunk
    stream_tail: bytes  # finish + usage + [DONE] + terminating chunk
    stream_all: bytes = b""  # everything, for zero delay


@dataclass
class MockState:
    label: str
    tokens: int
    delay_ms: float
    dim: int
    shapes: dict[tuple[str, int], Shape] = field(default_factory=dict)
    chat: int = 0
    stream: int = 0
    embeddings: int = 0
    first_chat_at: float | None = None
    started_at: float = field(default_factory=time.monotonic)

    def shape(self, model: str, tokens: int) -> Shape:
        key = (model, tokens)
        found = self.shapes.get(key)
        if found is None:
            found = self.shapes[key] = _build_shape(self.label, model, tokens)
        return found

    def params(self, model: str) -> tuple[int, float]:
        t = _MODEL_T.search(model)
        d = _MODEL_D.search(model)
        return (max(1, int(t.group(1))) if t else self.tokens, float(d.group(1)) if d else self.delay_ms)


def _build_shape(label: str, model: str, n: int) -> Shape:
    words = [f"[{label}]"] + [" " + _WORDS[i % len(_WORDS)] for i in range(n - 1)]
    usage = {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": 10 + n}
    full = {
        "id": f"chatcmpl-mock{label}",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "".join(words)}, "finish_reason": "stop"}
        ],
        "usage": usage,
    }
    base = {
        "id": f"chatcmpl-mock{label}",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
    }

    def sse(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return _chunk(b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n")

    def delta(d: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": d, "finish_reason": finish}]

    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
        + sse(delta({"role": "assistant", "content": ""}))
        + sse(delta({"content": words[0]}))
    )
    tokens = [sse(delta({"content": w})) for w in words[1:]]
    tail = sse(delta({}, "stop")) + sse([], usage=usage) + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"
    shape = Shape(_http("200 OK", "application/json", json.dumps(full).encode()), head, tokens, tail)
    shape.stream_all = head + b"".join(tokens) + tail
    return shape


class _Embeddings:
    def __init__(self, label: str, dim: int) -> None:
        seed = sum(label.encode()) or 1
        vec = [((i * 7919 + seed * 104729) % 1000) / 1000.0 - 0.5 for i in range(dim)]
        self.float_json = json.dumps(vec)
        self.b64_json = json.dumps(base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode())
        self.cache: dict[tuple[int, bool, str], bytes] = {}

    def response(self, n: int, b64: bool, model: str) -> bytes:
        key = (n, b64, model)
        found = self.cache.get(key)
        if found is None:
            emb = self.b64_json if b64 else self.float_json
            items = ",".join(f'{{"object":"embedding","index":{i},"embedding":{emb}}}' for i in range(n))
            body = (
                f'{{"object":"list","data":[{items}],"model":{json.dumps(model)},'
                f'"usage":{{"prompt_tokens":{n},"total_tokens":{n}}}}}'
            ).encode()
            found = self.cache[key] = _http("200 OK", "application/json", body)
        return found


class MockProtocol(asyncio.Protocol):
    def __init__(self, state: MockState, emb: _Embeddings) -> None:
        self.state = state
        self.emb = emb
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.busy: asyncio.Task[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(_http("400 Bad Request", "text/plain", b"bad request"))
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy is not None:
            self.busy.cancel()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        path = self.url.split(b"?", 1)[0]
        try:
            self._route(method, path)
        except Exception as e:  # noqa: BLE001 - a mock answers 500 rather than dying
            self._send(_http("500 Internal Server Error", "text/plain", repr(e).encode()))

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _route(self, method: bytes, path: bytes) -> None:
        st = self.state
        if method == b"POST" and path.endswith(b"/chat/completions"):
            req = json.loads(b"".join(self.body) or b"{}")
            model = str(req.get("model") or "mock")
            st.chat += 1
            if st.first_chat_at is None:
                st.first_chat_at = time.monotonic()
            tokens, delay = st.params(model)
            shape = st.shape(model, tokens)
            if not req.get("stream"):
                self._send(shape.full)
            elif delay <= 0:
                st.stream += 1
                self._send(shape.stream_all)
            else:
                st.stream += 1
                self._send(shape.stream_head)
                self.busy = asyncio.ensure_future(self._slow(shape, delay / 1000))
        elif method == b"POST" and path.endswith(b"/embeddings"):
            req = json.loads(b"".join(self.body) or b"{}")
            inp = req.get("input")
            n = len(inp) if isinstance(inp, list) and inp and not isinstance(inp[0], int) else 1
            st.embeddings += 1
            b64 = req.get("encoding_format") == "base64"
            self._send(self.emb.response(n, b64, str(req.get("model") or "mock-embed")))
        elif path.endswith(b"/models"):
            body = {
                "object": "list",
                "data": [{"id": "mock", "object": "model", "created": CREATED, "owned_by": st.label}],
            }
            self._send(_http("200 OK", "application/json", json.dumps(body).encode()))
        elif path == b"/health":
            self._send(_http("200 OK", "application/json", b'{"status":"ok"}'))
        elif path == b"/stats":
            if method == b"POST":
                st.chat = st.stream = st.embeddings = 0
                st.first_chat_at = None
            body = {"label": st.label, "chat": st.chat, "stream": st.stream, "embeddings": st.embeddings,
                    "first_chat_at": st.first_chat_at, "now": time.monotonic()}  # fmt: skip
            self._send(_http("200 OK", "application/json", json.dumps(body).encode()))
        else:
            self._send(_http("404 Not Found", "application/json", b'{"error":{"message":"not found"}}'))

    async def _slow(self, shape: Shape, delay: float) -> None:
        for tok in shape.stream_tokens:
            await asyncio.sleep(delay)
            if self.transport is None or self.transport.is_closing():
                return
            self.transport.write(tok)
        await asyncio.sleep(delay)
        self._send(shape.stream_tail)
        self.busy = None


async def serve(host: str, port: int, state: MockState) -> None:
    loop = asyncio.get_running_loop()
    emb = _Embeddings(state.label, state.dim)
    state.shape("mock", state.tokens)  # warm the cache for the default shape
    server = await loop.create_server(lambda: MockProtocol(state, emb), host, port, backlog=1024)
    print(f"mock {state.label} listening on http://{host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--label", default="A")
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--delay-ms", type=float, default=0.0)
    p.add_argument("--dim", type=int, default=384)
    a = p.parse_args(argv)
    state = MockState(a.label, a.tokens, a.delay_ms, a.dim)
    try:
        import uvloop

        uvloop.run(serve(a.host, a.port, state))
    except ImportError:
        asyncio.run(serve(a.host, a.port, state))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
