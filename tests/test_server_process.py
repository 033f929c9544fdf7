"""The test harness's ``ServerProcess`` talks to its own server: a port another process took
between being picked and being bound (another test run on the machine) must not pass for it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from magec.testing.server import ServerProcess


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def foreign() -> Iterator[tuple[int, int]]:
    """Another process's servers on two ports, answering every health check 200 at once."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Healthy) for _ in range(2)]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield int(servers[0].server_address[1]), int(servers[1].server_address[1])
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_ports_another_process_holds_are_not_taken_for_the_server(tmp_path: Path, foreign: tuple[int, int]) -> None:
    # both health checks pass at once, from the other process: only the server's own sockets count
    srv = ServerProcess(tmp_path / "d", port=foreign[0], admin_port=foreign[1])
    with pytest.raises(RuntimeError, match="could not bind its port"):
        srv.start(timeout=60)
    srv.stop()


def test_picked_ports_are_its_own(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "d") as srv:
        assert srv.port and srv.admin_port and srv.port != srv.admin_port
