"""Fixtures for MCP tool tests: a fake OpenAI-type LLM, real MCP servers (stdio script and HTTP).

The HTTP MCP server is ``tests/tools/mcp_server.py``'s server mounted at ``/mcp`` in a FastAPI app
served by uvicorn on ``127.0.0.1:<free port>`` (optionally TLS with a self-signed certificate); it
rejects requests without ``X-Mcp-Key: <key>`` and records the headers it saw.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.proxy import self_signed

SERVER_SCRIPT = Path(__file__).with_name("mcp_server.py")
MCP_KEY = "k-mcp-123"


def load_server_module() -> ModuleType:
    """A fresh copy of the test MCP server module (one ``MCPServer`` per HTTP app)."""
    spec = importlib.util.spec_from_file_location(f"magec_test_mcp_server_{time.monotonic_ns()}", SERVER_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class HttpMcp:
    """The test MCP server over Streamable HTTP in a uvicorn thread."""

    def __init__(self, *, tls: tuple[Path, Path] | None = None, wrap: Any = None) -> None:
        """``wrap``: an ASGI middleware around the server (``wrap(app)``), e.g. one that lies."""
        srv = load_server_module().server
        self.seen_headers: list[dict[str, str]] = []

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            async with srv.session_manager.run():
                yield

        app = FastAPI(lifespan=lifespan)

        @app.middleware("http")
        async def need_key(request: Request, call_next: Any) -> Response:
            self.seen_headers.append({k.lower(): v for k, v in request.headers.items()})
            if request.headers.get("x-mcp-key") != MCP_KEY:
                return JSONResponse({"error": "missing or wrong X-Mcp-Key"}, status_code=401)
            response: Response = await call_next(request)
            return response

        app.mount("/mcp", srv.streamable_http_app(streamable_http_path="/"))
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/mcp/"
        kw: dict[str, Any] = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])} if tls else {}
        config = uvicorn.Config(wrap(app) if wrap else app, log_level="critical", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=1, **kw)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("MCP HTTP server failed to start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    return self_signed(["127.0.0.1"], directory)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("fake-llm")) as s:
        yield s


@pytest.fixture(autouse=True)
def _clear_llm(request: pytest.FixtureRequest) -> None:
    if "llm" in request.fixturenames:
        request.getfixturevalue("llm").clear()


@pytest.fixture(scope="module")
def http_mcp() -> Iterator[HttpMcp]:
    server = HttpMcp()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def https_mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpMcp]:
    server = HttpMcp(tls=self_signed_cert(tmp_path_factory.mktemp("tls")))
    yield server
    server.stop()


def free_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
