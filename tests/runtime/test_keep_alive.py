"""Idle keep-alive connections outlive clients' pools (``server.keepAlive``, 120 s by default).

uvicorn's own default closes an idle connection after 5 s, exactly when httpx (and so the openai
SDKs) would still reuse it: a client whose request crosses the server's close gets a reset (a
``ReadError`` from a ``BrokenPipeError``) for a request the server never read. Here a pooled client
idles past those 5 s and its next request, on both ports, is answered on the same connection; a
configured ``keepAlive`` is what the server keeps to (it closes an idle connection then, which the
client reads as the end of the stream); a bad value is refused at start, naming the field."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from magec.testing.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("keepalive") / "data").start() as srv:
        yield srv


class Connects:
    """httpx's ``trace`` extension: how many connections a request had to open."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: str, info: dict[str, object]) -> None:
        if event == "connection.connect_tcp.complete":
            self.count += 1


def test_a_pooled_connection_idle_past_five_seconds_is_still_served(server: ServerProcess) -> None:
    bases = (server.user_url, server.admin_url)
    # a client whose pool keeps connections a minute (aiohttp keeps them 15 s, Go's client 90 s)
    with httpx.Client(timeout=30, limits=httpx.Limits(keepalive_expiry=60)) as c:
        first = [Connects() for _ in bases]
        for base, seen in zip(bases, first, strict=True):
            assert c.get(f"{base}/api/v1/health", extensions={"trace": seen}).status_code == 200
        assert [s.count for s in first] == [1, 1]
        time.sleep(6.5)  # the client is idle: longer than uvicorn's own 5 s keep-alive
        again = [Connects() for _ in bases]
        for base, seen in zip(bases, again, strict=True):
            assert c.get(f"{base}/api/v1/health", extensions={"trace": seen}).status_code == 200
        assert [s.count for s in again] == [0, 0]  # the same connections answered


def test_a_configured_keep_alive_closes_an_idle_connection(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data", server_config={"keepAlive": 1}).start() as srv:
        for base in (srv.user_url, srv.admin_url):
            host, port = base.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("GET", "/api/v1/health")
            answer = conn.getresponse()
            assert answer.status == 200 and answer.read() == b"ok"
            assert conn.sock is not None
            conn.sock.settimeout(30)
            assert conn.sock.recv(1) == b""  # the server closed the idle connection (end of stream)
            conn.close()


@pytest.mark.parametrize(("field", "value"), [("keepAlive", 0), ("keepAlive", 7200), ("keepAlive", "soon"),
                                             ("streamPing", 0), ("streamPing", "often")])  # fmt: skip
def test_a_bad_keep_alive_is_refused_at_start_naming_the_field(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(RuntimeError, match=rf"server\.{field}"):
        ServerProcess(tmp_path / "data", server_config={field: value}).start()
