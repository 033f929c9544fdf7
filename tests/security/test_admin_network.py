"""Secure defaults of the network surface, tried as a hostile web page and a careless operator.

* the CSRF → stdio MCP → command-execution chain fails at its first step (text/plain body,
  foreign Origin, rebound Host), and nothing is created;
* allowed hosts, Origin and JSON-only rules on the admin app and on the open-mode user app;
* CORS: an explicit allow-list on the user API, none cross-origin on the admin app by default;
* a real ``magec serve``: the admin app stays on loopback without a password, refuses a
  non-loopback admin address without one, and binds where asked once a password is set.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from magec.testing.apps import running_apps
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
RCE = {"name": "pwn", "type": "stdio", "command": "/bin/sh", "args": ["-c", "touch /tmp/magec-pwned"]}


async def test_csrf_to_command_execution_chain_fails_at_first_step(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d") as apps:
        body = json.dumps(RCE)
        # a cross-site "simple" request: text/plain, no preflight, Origin of the attacking page
        r = await apps.admin.post(f"{A}/mcps", content=body,
                                  headers={"Content-Type": "text/plain", "Origin": "http://evil.example"})
        assert r.status_code == 403 and "evil.example" in r.json()["error"]
        # the operator whose proxy rewrites Host meets this refusal too: it names the setting
        assert "server.adminOrigins" in r.json()["error"], r.text
        # same, from a browser that only sends Sec-Fetch-Site
        r = await apps.admin.post(f"{A}/mcps", content=body,
                                  headers={"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403 and r.json()["field"] == "Origin"
        # an opaque origin (sandboxed iframe, file://) never passes
        r = await apps.admin.post(f"{A}/mcps", json=RCE, headers={"Origin": "null"})
        assert r.status_code == 403
        # DNS rebinding: the page's own name resolving to magec — the Host header gives it away
        r = await apps.admin.post(f"{A}/mcps", content=body,
                                  headers={"Content-Type": "text/plain", "Host": "evil.example:8081"})
        assert r.status_code == 400 and r.json()["field"] == "Host" and "allowedHosts" in r.json()["error"]
        r = await apps.admin.post(f"{A}/mcps", json=RCE, headers={"Host": "evil.example"})
        assert r.status_code == 400
        # no Origin at all (not a browser) but not JSON: still refused, naming the problem
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""):
            r = await apps.admin.post(f"{A}/mcps", content=body, headers={"Content-Type": ctype})
            assert r.status_code == 415, (ctype, r.text)
            assert "application/json" in r.json()["error"] and r.json()["field"] == "Content-Type"
        # nothing was created
        assert (await apps.admin.get(f"{A}/mcps")).json() == []


async def test_admin_same_origin_and_allowed_origins(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d", config={"admin_origins": ["https://ops.example.com"]}) as apps:
        # the Admin UI itself: same origin (Origin host:port == Host)
        r = await apps.admin.post(f"{A}/secrets", json={"name": "A", "key": "A", "value": "v"},
                                  headers={"Origin": "http://admin", "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 201, r.text
        # same host, other port: another origin
        r = await apps.admin.post(f"{A}/secrets", json={"name": "B", "key": "B", "value": "v"},
                                  headers={"Origin": "http://admin:9999"})
        assert r.status_code == 403
        # an explicitly allowed origin passes, and gets CORS headers
        r = await apps.admin.post(f"{A}/secrets", json={"name": "C", "key": "C", "value": "v"},
                                  headers={"Origin": "https://ops.example.com"})
        assert r.status_code == 201 and r.headers["access-control-allow-origin"] == "https://ops.example.com"
        # reads are not state-changing; bodyless writes need no Content-Type (but still the Origin rule)
        assert (await apps.admin.get(f"{A}/secrets", headers={"Origin": "http://evil.example"})).status_code == 200
        sid = r.json()["id"]
        r = await apps.admin.delete(f"{A}/secrets/{sid}", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        assert (await apps.admin.delete(f"{A}/secrets/{sid}")).status_code == 204


async def test_admin_cors_default_is_none(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d") as apps:
        r = await apps.admin.options(f"{A}/mcps", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert "access-control-allow-origin" not in r.headers
        assert r.status_code < 500 and "error" in r.json()
        r = await apps.admin.get(f"{A}/mcps", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers


async def test_admin_voice_upload_takes_multipart_but_nothing_else_odd(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d") as apps:
        url = f"{A}/voice/nope/transcription"
        r = await apps.admin.post(url, files={"file": ("a.wav", b"RIFF0000", "audio/wav")})
        assert r.status_code != 415, r.text  # the route's own answer (no such agent), not the guard's
        r = await apps.admin.post(url, content=b"RIFF0000", headers={"Content-Type": "audio/wav"})
        assert r.status_code != 415, r.text
        r = await apps.admin.post(url, content=b"x", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]
        # multipart is for uploads only
        r = await apps.admin.post(f"{A}/mcps", files={"file": ("a", b"{}", "application/json")})
        assert r.status_code == 415


async def test_user_app_open_mode_same_rules(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d", config={"cors_origins": ["https://voice.example.com"]}) as apps:
        run = {"appName": "x", "userId": "u", "sessionId": "s", "newMessage": {"role": "user", "parts": [{"text": "hi"}]}}
        # open mode (no client): a cross-site simple request could run agents, so JSON + Origin apply
        r = await apps.user.post("/api/v1/agent/run", content=json.dumps(run), headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and r.json()["field"] == "Content-Type"
        r = await apps.user.post("/api/v1/agent/run", json=run, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and "server.corsOrigins" in r.json()["error"], r.text
        r = await apps.user.post("/v1/chat/completions", json={"model": "x", "messages": []},
                                 headers={"Host": "rebound.example"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "Host"  # /v1 speaks OpenAI's error object
        # an allowed origin: CORS preflight answered, the request reaches the route
        pre = await apps.user.options("/v1/chat/completions", headers={
            "Origin": "https://voice.example.com", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "https://voice.example.com"
        r = await apps.user.post("/api/v1/agent/run", json=run, headers={"Origin": "https://voice.example.com"})
        assert r.status_code not in (403, 415) and r.headers["access-control-allow-origin"] == "https://voice.example.com"
        # other origins get no CORS grant
        pre = await apps.user.options("/v1/chat/completions", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers

        # with a client, a token-bearing request needs no JSON rule (a cross-site page cannot attach
        # the token without a preflight) but a foreign Origin is still refused
        c = await apps.admin.post(f"{A}/clients", json={"name": "app", "allowedAgents": []})
        token = c.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        r = await apps.user.post("/v1/chat/completions", content=b"{}", headers={**auth, "Content-Type": "text/plain"})
        assert r.status_code != 415, r.text
        r = await apps.user.post("/v1/chat/completions", json={}, headers={**auth, "Origin": "http://evil.example"})
        assert r.status_code == 403


async def test_allowed_hosts_configuration(tmp_path: Path) -> None:
    cfg: dict[str, Any] = {"allowed_hosts": ["admin", "user", "*.corp.example"],
                           "public_url": "https://magec.example.com"}
    async with running_apps(tmp_path / "d", config=cfg) as apps:
        for host in ("localhost:8081", "127.0.0.1", "[::1]:8081", "magec.example.com", "a.corp.example",
                     "ADMIN"):
            r = await apps.admin.get(f"{A}/settings", headers={"Host": host})
            assert r.status_code == 200, (host, r.text)
        for host in ("evil.example", "corp.example.evil", "magec.example.com.evil", "0.0.0.0", ""):
            r = await apps.admin.get(f"{A}/settings", headers={"Host": host})
            assert r.status_code == 400, host
        # health stays reachable for probes that address the server by IP
        assert (await apps.admin.get("/api/v1/health", headers={"Host": "10.0.0.7:8081"})).status_code == 200


# ---- a real `magec serve`: where the admin app listens ----

ADMIN_PASSWORD = "pw-123456"


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``server.host: 0.0.0.0`` and no admin password (started once for the tests that only read
    it; a test that creates a client on it checks the open user API first)."""
    with ServerProcess(tmp_path_factory.mktemp("open") / "d", server_config={"host": "0.0.0.0"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``server.host: 0.0.0.0`` with an admin password (nothing is created on it)."""
    with ServerProcess(tmp_path_factory.mktemp("password") / "d", admin_password=ADMIN_PASSWORD,
                       server_config={"host": "0.0.0.0"}) as srv:
        yield srv

def _outside_address() -> str | None:
    """A non-loopback address of this machine (a UDP connect sends nothing), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            ip = str(s.getsockname()[0])
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def _reachable(ip: str, port: int) -> bool:
    try:
        return httpx.get(f"http://{ip}:{port}/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_without_password_admin_stays_on_loopback(open_server: ServerProcess) -> None:
    srv = open_server
    assert _reachable("127.0.0.1", srv.admin_port)
    ip = _outside_address()
    if ip is not None:
        assert _reachable(ip, srv.port)  # the user app takes server.host
        assert not _reachable(ip, srv.admin_port)
    assert srv.log_path is not None
    assert "server.adminPassword is not set" in srv.log_path.read_text()


def test_exposed_admin_without_password_is_refused(tmp_path: Path) -> None:
    for server_config in ({"adminHost": "0.0.0.0"}, {"adminHost": "192.0.2.10"}):
        srv = ServerProcess(tmp_path / "d", server_config=server_config)
        with pytest.raises(RuntimeError, match="exited early") as info:
            srv.start()
        assert srv.proc is not None and srv.proc.wait(10) == 2
        assert "refusing to expose the Admin API" in str(info.value)
        assert "adminPassword" in str(info.value)
    # the environment variable is honoured the same way
    srv = ServerProcess(tmp_path / "e", env={"MAGEC_ADMIN_HOST": "0.0.0.0"})
    with pytest.raises(RuntimeError, match="refusing to expose"):
        srv.start()


def test_with_password_admin_binds_where_asked(password_server: ServerProcess) -> None:
    srv = password_server
    assert _reachable("127.0.0.1", srv.admin_port)
    ip = _outside_address()
    if ip is not None:
        assert _reachable(ip, srv.admin_port)
        # reachable by the address it was reached on (no rebinding page sends a bare IP), not
        # by a foreign name or another address sent over that same connection
        auth = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
        assert httpx.get(f"http://{ip}:{srv.admin_port}{A}/settings", headers=auth).status_code == 200
        for host in ("evil.example", "192.0.2.250", "127.0.0.2"):
            r = httpx.get(f"http://{ip}:{srv.admin_port}{A}/settings", headers={**auth, "Host": host})
            assert r.status_code == 400 and r.json()["field"] == "Host", host


async def test_the_address_a_request_arrived_on_is_an_allowed_host(tmp_path: Path) -> None:
    """The ASGI ``server`` of a request is the socket's local end: an IPv6 caller sends
    ``Host: [addr]:port``; on a dual-stack listener an IPv4 caller arrives on ``::ffff:a.b.c.d``
    and sends ``Host: a.b.c.d``. Each names this socket's own address: allowed. (The real-socket
    IPv4 case is in test_with_password_admin_binds_where_asked.)"""
    async with running_apps(tmp_path / "d", config={"open_access": "network"}) as apps:
        cases = [
            ("http://[fd00::2]:8080", "[fd00::2]:8080"),
            ("http://[fd00::2]:8080", "[FD00:0::2]"),
            ("http://[::ffff:192.0.2.2]:8080", "192.0.2.2:8080"),
            ("http://[::ffff:192.0.2.2]:8080", "[::ffff:192.0.2.2]:8080"),
            ("http://192.0.2.2:8080", "192.0.2.2"),
        ]
        for arrived, host in cases:
            r = await apps.user.get(f"{arrived}/api/v1/client/info", headers={"Host": host})
            assert r.status_code == 200, (arrived, host, r.text)
        # the same connection naming another host is still a possible rebinding: refused
        for arrived, host in [("http://[fd00::2]:8080", "evil.example"), ("http://[fd00::2]:8080", "[fd00::3]"),
                              ("http://[::ffff:192.0.2.2]:8080", "192.0.2.3"), ("http://0.0.0.0:8080", "0.0.0.0"),
                              ("http://[::]:8080", "[::]:8080")]:
            r = await apps.user.get(f"{arrived}/api/v1/client/info", headers={"Host": host})
            assert r.status_code == 400 and r.json()["field"] == "Host", (arrived, host, r.text)


# ---- the open user API (no client yet) answers only this machine ----

def test_an_open_user_api_answers_only_this_machine(open_server: ServerProcess, tmp_path: Path) -> None:
    """With no client the user API needs no token; on 0.0.0.0 anyone on the network could run every
    agent and read every conversation (sending ``Host: localhost`` passes the rebinding check)."""
    ip = _outside_address()
    if ip is None:
        pytest.skip("this machine has no non-loopback address to call from")
    local = {"Host": "localhost"}
    srv = open_server
    assert httpx.get(f"{srv.admin_url}{A}/clients").json() == []  # no client yet: the API is open
    remote = f"http://{ip}:{srv.port}"
    for path in ("/api/v1/client/info", "/api/v1/agent/list-apps", "/v1/models"):
        r = httpx.get(remote + path, headers=local)
        assert r.status_code == 403 and "openAccess" in r.text, (path, r.text)
    r = httpx.post(remote + "/v1/chat/completions", headers=local, json={"model": "x", "messages": []})
    assert r.status_code == 403
    assert httpx.get(remote + "/api/v1/health").status_code == 200  # probes still answered
    assert httpx.get(srv.user_url + "/api/v1/client/info").status_code == 200  # this machine: open
    # a client opens the API to the network, with its token, from the very next request
    c = httpx.post(f"{srv.admin_url}{A}/clients", json={"name": "c", "type": "direct"}).json()
    assert httpx.get(remote + "/v1/models", headers=local).status_code == 401
    r = httpx.get(remote + "/v1/models", headers={**local, "Authorization": f"Bearer {c['token']}"})
    assert r.status_code == 200, r.text
    with ServerProcess(tmp_path / "e", server_config={"host": "0.0.0.0", "openAccess": "network"}) as srv:
        assert httpx.get(f"http://{ip}:{srv.port}/v1/models", headers=local).status_code == 200
        assert srv.log_path is not None and "server.openAccess is network" in srv.log_path.read_text()


async def test_open_access_sees_the_caller_behind_a_trusted_proxy(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d", config={"trusted_proxies": ["127.0.0.1"]}) as apps:
        outside = {"X-Forwarded-For": "203.0.113.9"}
        r = await apps.user.get("/api/v1/agent/list-apps", headers=outside)
        assert r.status_code == 403 and "openAccess" in r.json()["error"]
        assert (await apps.user.get("/api/v1/agent/list-apps", headers={"X-Forwarded-For": "127.0.0.1"})).status_code == 200
        # a trusted proxy that names no client (a tunnel, socat) may be relaying anyone: refused
        for headers in ({}, {"X-Forwarded-For": "not-an-address"}):
            r = await apps.user.get("/api/v1/agent/list-apps", headers=headers)
            assert r.status_code == 403 and "openAccess" in r.text, (headers, r.text)
    async with running_apps(tmp_path / "e", config={"trusted_proxies": ["127.0.0.1"], "open_access": "network"}) as apps:
        assert (await apps.user.get("/api/v1/agent/list-apps", headers={"X-Forwarded-For": "203.0.113.9"})).status_code == 200


def _raw(port: int, request: bytes) -> bytes:
    """The first bytes of the answer to ``request`` sent as is (httpx would refuse the header)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        return s.recv(4096)


def test_an_origin_that_is_no_url_is_refused_not_a_500(password_server: ServerProcess) -> None:
    """``Origin: http://[::1`` (an unclosed IPv6 bracket) made the guard's URL parser raise: a 500
    and a traceback logged at ERROR for every such request, from anyone — the guard runs before
    the password check. It is a foreign origin like any other: 403 on both apps and the
    WebSocket handshake, nothing logged as an error."""
    srv = password_server
    for port, path in ((srv.admin_port, f"{A}/secrets"), (srv.port, "/api/v1/agent/run")):
        for origin in (b"http://[::1", b"http://[::1]:99999", b"http://["):
            answer = _raw(port, b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: " + origin
                          + b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            assert answer.startswith(b"HTTP/1.1 403"), (port, origin, answer)
    handshake = (b"GET /api/v1/voice/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\nOrigin: http://[::1\r\n\r\n")
    answer = _raw(srv.port, handshake)
    assert answer.startswith(b"HTTP/1.1 403"), answer
    assert srv.log_path is not None
    errors = [line for line in srv.log_path.read_text().splitlines() if '"level": "error"' in line]
    assert errors == []
