"""A loopback reverse proxy for tests, configured as the docs' nginx example: TLS in front, HTTP behind.

Usage::

    with ReverseProxy(server.port, server_name="magec.test") as proxy:
        httpx.get(f"{proxy.url}/api/v1/health", verify=False)   # https://127.0.0.1:<port>
        proxy.public_url                                     # https://magec.test:<port>

Contract:

* Layer 7, one upstream (``http://127.0.0.1:<upstream_port>``): every request is sent on with its
  method, path, query, body (streamed) and headers, plus what ``proxy_set_header`` adds in the
  nginx example of docs/security.md — ``Host`` as the browser sent it (``$host`` with the port:
  ``forward_host=False`` sends the upstream's own address instead, nginx's default
  ``$proxy_host``), ``X-Forwarded-For`` (the client appended), ``X-Forwarded-Proto`` (``https``
  with TLS) and ``X-Real-IP``. Hop-by-hop headers are dropped both ways.
* Responses are streamed chunk by chunk as they arrive (``proxy_buffering off``): SSE works.
  WebSocket upgrades are relayed both ways, with the same added headers (and the browser's
  ``Origin`` and cookies) on the upstream handshake.
* TLS with a self-signed certificate for ``server_name``, ``localhost`` and ``127.0.0.1``
  (generated at start; clients skip verification: ``verify=False``, Chromium's
  ``--ignore-certificate-errors``); ``tls=False`` serves plain HTTP.
* Listens on ``host`` (``127.0.0.1``; ``0.0.0.0`` lets a test connect from this machine's LAN
  address, so the client the proxy names is not loopback: a browser elsewhere).
* Runs its own event loop in a daemon thread; :meth:`stop` closes it. Only for tests.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from magec.testing.services import free_port

#: headers that belong to one connection, never forwarded (RFC 9110 §7.6.1)
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "transfer-encoding", "upgrade", "content-length", "host"})


def self_signed(names: list[str], directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key (PEM files in ``directory``) valid for ``names``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7)).add_extension(x509.SubjectAlternativeName(alt), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "proxy.crt", directory / "proxy.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def lan_address() -> str:
    """This machine's non-loopback address (a UDP connect sends nothing): a connection to a proxy
    listening on ``0.0.0.0`` made to it comes from it, so the proxy names a client elsewhere."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        ip = str(s.getsockname()[0])
    if ip.startswith("127."):
        raise RuntimeError("this machine has no non-loopback address")
    return ip


class ReverseProxy:
    def __init__(self, upstream_port: int, *, server_name: str = "localhost", tls: bool = True,
                 forward_host: bool = True, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream = f"http://127.0.0.1:{upstream_port}"
        self.server_name, self.tls, self.forward_host = server_name, tls, forward_host
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._dir = tempfile.TemporaryDirectory()

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        """Where to connect (the listen address; ``127.0.0.1`` when listening on every address)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def public_url(self) -> str:
        """The address users type: ``server_name`` and this proxy's port."""
        return f"{self.scheme}://{self.server_name}:{self.port}"

    def start(self) -> ReverseProxy:
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        if not ready.wait(15):
            raise RuntimeError("the reverse proxy did not start")
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            if self._session is not None:
                await self._session.close()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._dir.cleanup()

    def __enter__(self) -> ReverseProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- the proxy ---------------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        ready.set()
        self._loop.run_forever()

    async def _serve(self) -> None:
        context = None
        if self.tls:
            names = list(dict.fromkeys([self.server_name, "localhost", "127.0.0.1"]))
            cert, key = self_signed(names, Path(self._dir.name))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
        self._session = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, ssl_context=context).start()

    def _headers(self, request: web.Request) -> dict[str, str]:
        out = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        client = request.remote or ""
        before = request.headers.get("X-Forwarded-For")
        out["Host"] = request.host if self.forward_host else self.upstream.split("://", 1)[1]
        out["X-Forwarded-For"] = f"{before}, {client}" if before else client
        out["X-Forwarded-Proto"] = self.scheme
        out["X-Real-IP"] = client
        return out

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        target = self.upstream + request.rel_url.raw_path_qs
        headers = self._headers(request)
        if request.headers.get("upgrade", "").lower() == "websocket":
            return await self._websocket(request, target, headers)
        body = request.content if request.body_exists else None
        async with self._session.request(request.method, target, headers=headers, data=body,
                                         allow_redirects=False) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for k, v in upstream.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    response.headers.add(k, v)
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def _websocket(self, request: web.Request, target: str, headers: dict[str, str]) -> web.StreamResponse:
        assert self._session is not None
        skip = {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
        headers = {k: v for k, v in headers.items() if k.lower() not in skip}
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        try:
            upstream = await self._session.ws_connect("ws" + target[4:], headers=headers, protocols=protocols)
        except aiohttp.WSServerHandshakeError as e:
            return web.Response(status=e.status, text=e.message)
        downstream = web.WebSocketResponse(protocols=protocols)
        await downstream.prepare(request)

        async def pipe(src: Any, dst: Any) -> None:
            async for msg in src:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await dst.send_str(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await dst.send_bytes(msg.data)
                else:
                    break
            await dst.close()

        await asyncio.gather(pipe(upstream, downstream), pipe(downstream, upstream), return_exceptions=True)
        return downstream
