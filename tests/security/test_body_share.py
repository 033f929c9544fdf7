"""Hostile: one client token holder cannot take every other client's request bodies away.

The user app holds at most ``limits.bodyBytesInFlight`` of request bodies at once, all requests
together. A token holder started four voice uploads and left each a few bytes short of its
declared length (a byte a minute keeps such a body open past ``server.bodyTimeout``): the whole
budget was theirs, and every other client's request with a body — a 200-byte ``/run`` — was
refused 503 ``overloaded`` for as long as they liked. One client may now hold half of it: its
third upload is refused 429, and the other clients are served. A real ``magec serve``; the
attacker speaks raw HTTP over sockets (as curl sends an upload) so the bodies stay unfinished.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("llm")) as s:
        yield s


def upload(port: int, path: str, token: str) -> tuple[socket.socket, bytes]:
    """An upload declaring 1 MiB, sent as curl sends a large one (``Expect: 100-continue``): the
    body only once the server asks for it, then left 10 bytes short with its socket open. Returns
    the socket and the server's answer when it refused the upload instead (else ``b""``)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
               f"Content-Type: audio/wav\r\nContent-Length: {MB}\r\nExpect: 100-continue\r\n\r\n").encode())
    answer = read_answer(s)
    if not answer.startswith(b"HTTP/1.1 100"):
        return s, answer
    s.sendall(b"\0" * (MB - 10))
    return s, b""


def read_answer(s: socket.socket) -> bytes:
    """One answer (or the interim ``100 Continue``): its head and its ``content-length`` body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return data  # closed
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length and (chunk := s.recv(4096)):
        body += chunk
    return head + b"\r\n\r\n" + body


def test_one_client_holds_half_the_bodies_in_flight(tmp_path: Path, llm: FakeServer) -> None:
    limits = {"limits": {"uploadBytes": MB, "bodyBytesInFlight": 4 * MB}}
    with ServerProcess(tmp_path / "srv", config=limits) as srv, httpx.Client(base_url=srv.admin_url, timeout=60) as admin:
        b = admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": llm.url}).json()
        aid = admin.post(f"{A}/agents", json={"name": "ag", "llm": {"backend": b["id"], "model": "m"},
                                              "transcription": {"backend": b["id"], "model": "whisper-1"}}).json()["id"]
        attacker = admin.post(f"{A}/clients", json={"name": "attacker", "allowedAgents": [aid]}).json()["token"]
        victim = admin.post(f"{A}/clients", json={"name": "victim", "allowedAgents": [aid]}).json()["token"]

        path = f"/api/v1/voice/{aid}/transcription"
        uploads = [upload(srv.port, path, attacker) for _ in range(4)]
        try:
            # two fit the attacker's share (2 MiB); the others are refused 429 at their head,
            # naming the limit, with Retry-After
            held = [s for s, refused in uploads if not refused]
            assert len(held) == 2, [refused[:200] for _, refused in uploads]
            for _, refused in uploads[2:]:
                assert refused.startswith(b"HTTP/1.1 429"), refused[:300]
                assert b"too_many_requests" in refused and b"bodyBytesInFlight" in refused
                assert b"retry-after" in refused.lower()
            assert all(answer_head_nowait(s) == b"" for s in held)  # still open, still being read

            # every other client is still served while the attacker's bodies stay open
            for i in range(3):
                r = httpx.post(f"{srv.user_url}/api/v1/agent/run", timeout=30,
                               headers={"Authorization": f"Bearer {victim}"},
                               json={"appName": aid, "userId": "u", "sessionId": "s",
                                     "newMessage": {"role": "user", "parts": [{"text": f"hello {i}"}]}})
                assert r.status_code == 200, r.text[:300]
        finally:
            for s, _ in uploads:
                s.close()


def answer_head_nowait(s: socket.socket) -> bytes:
    s.settimeout(0.2)
    try:
        return s.recv(4096)
    except TimeoutError:
        return b""
