"""Slow clients (slowloris) against a real ``magec serve``, played with raw sockets the way an attacker
would: a connection that sends nothing, a request head that trickles in a byte at a time, a body
that stops halfway — each is cut at its deadline (``server.headerTimeout`` / ``bodyTimeout``, set
to 1 s here), on both ports, and the server keeps serving. Clients that are merely slow within the
deadlines, a kept-alive connection idle longer than the head deadline, and a WebSocket that lives
past it are untouched; bad settings are refused at start, naming the field."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from magec.testing.server import ServerProcess

DEADLINE = 1  # seconds, both deadlines


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("slow") / "data",
                        server_config={"headerTimeout": DEADLINE, "bodyTimeout": DEADLINE})  # fmt: skip
    with srv.start() as started:
        yield started


def connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    return s


def read_all(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket's 30 s timeout bounds
    a server that never does: the test then fails on what it got)."""
    got = b""
    while chunk := s.recv(65536):
        got += chunk
    return got


def head(base: str) -> bytes:
    return f"GET /api/v1/health HTTP/1.1\r\nHost: {base.removeprefix('http://')}\r\n".encode()


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(server: ServerProcess) -> None:
    for base in (server.user_url, server.admin_url):
        with connect(base) as s:
            assert read_all(s) == b""


def test_a_head_trickling_in_is_answered_408_at_its_deadline_though_bytes_keep_coming(server: ServerProcess) -> None:
    for base in (server.user_url, server.admin_url):
        with connect(base) as s:
            s.sendall(head(base))
            started = time.monotonic()
            try:
                while time.monotonic() - started < 10 * DEADLINE:  # one header byte every 0.2 s
                    s.sendall(b"X")
                    time.sleep(0.2)
            except OSError:
                pass  # the server closed while we were still sending: what we want
            answer = read_all(s)
        status, _, rest = answer.partition(b"\r\n")
        assert status == b"HTTP/1.1 408 Request Timeout", answer
        body = json.loads(rest.partition(b"\r\n\r\n")[2])
        assert body["code"] == "request_timeout" and "server.headerTimeout" in body["error"]
        assert time.monotonic() - started < 10 * DEADLINE  # cut at the deadline, not when we stopped


def test_a_body_that_stops_halfway_is_cut_and_the_server_keeps_serving(server: ServerProcess) -> None:
    base = server.user_url
    with connect(base) as s:
        s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {base.removeprefix('http://')}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"model\": ".encode())  # fmt: skip
        answer = read_all(s)  # the body never comes: closed, with no answer to a request never whole
    assert answer == b""
    assert httpx.get(f"{base}/api/v1/health", timeout=30).status_code == 200
    log = server.log_path.read_text() if server.log_path else ""
    assert "Traceback" not in log and '"level": "error"' not in log, log[-3000:]


def test_a_slow_client_within_the_deadlines_is_served(server: ServerProcess) -> None:
    base = server.user_url
    body = json.dumps({"model": "nobody", "messages": [{"role": "user", "content": "hi"}]}).encode()
    with connect(base) as s:
        s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {base.removeprefix('http://')}\r\n".encode())
        time.sleep(DEADLINE / 2)
        s.sendall(f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        for i in range(0, len(body), 10):  # the body in pieces, each gap well inside the body deadline
            s.sendall(body[i : i + 10])
            time.sleep(DEADLINE / 4)
        answer = read_all(s)
    # the handler read the whole body and answered it: the model is unknown (a 404 naming it)
    assert answer.startswith(b"HTTP/1.1 404 "), answer[:300]
    assert b"model" in answer


def test_a_kept_alive_connection_idle_past_the_head_deadline_is_still_served(server: ServerProcess) -> None:
    host, port = server.user_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", "/api/v1/health")
        assert conn.getresponse().read() == b"ok"
        sock = conn.sock
        time.sleep(3 * DEADLINE)  # idle between requests: the keep-alive's time, not the head's
        conn.request("GET", "/api/v1/health")
        answer = conn.getresponse()
        assert answer.status == 200 and answer.read() == b"ok"
        assert conn.sock is sock  # the same connection answered
    finally:
        conn.close()


def test_a_websocket_lives_past_the_head_deadline(server: ServerProcess) -> None:
    url = server.user_url.replace("http://", "ws://") + "/api/v1/voice/events"

    async def talk() -> str:
        async with websockets.connect(url) as ws:
            assert json.loads(await ws.recv())["type"] == "capabilities"
            await asyncio.sleep(3 * DEADLINE)
            await ws.send(json.dumps({"type": "setModel", "data": {"model": "alexa"}}))
            return str(json.loads(await ws.recv())["data"]["wakewords"]["active"])

    assert asyncio.run(talk()) == "alexa"


@pytest.mark.parametrize(("field", "value"), [("headerTimeout", 0), ("bodyTimeout", 4000), ("headerTimeout", "x")])
def test_bad_deadlines_are_refused_at_start_naming_the_field(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(RuntimeError, match=rf"server\.{field}"):
        ServerProcess(tmp_path / "data", server_config={field: value}).start()
