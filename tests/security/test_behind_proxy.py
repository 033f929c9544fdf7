"""An operator puts magec behind a TLS reverse proxy on the same machine (docs/security.md's nginx
example, played by :class:`magec.testing.proxy.ReverseProxy`) and forgot the admin password.

The proxy connects from 127.0.0.1, so without ``server.trustedProxies`` everyone it relays used to
look like this machine: the admin app with no password served the Internet once the proxy's name
was added to ``server.allowedHosts`` (what the Host refusal says to do), and so did the user API
while no client existed. Now a forwarding header naming another machine makes the request not
local: refused, saying what to set; this machine itself is still served directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from magec.testing.proxy import ReverseProxy, lan_address
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
NAME = "magec.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # the operator added the proxy's name after the Host refusal told them to; no password
    with ServerProcess(data_dir=tmp_path_factory.mktemp("proxied"),
                       server_config={"allowedHosts": [NAME]}) as srv:
        yield srv


def proxy_to(port: int) -> ReverseProxy:
    return ReverseProxy(port, server_name=NAME, host="0.0.0.0")


def through(proxy: ReverseProxy) -> httpx.Client:
    """A browser elsewhere (this machine's LAN address), typing the proxy's public address."""
    return httpx.Client(base_url=f"https://{lan_address()}:{proxy.port}", verify=False, timeout=30,
                        headers={"Host": f"{NAME}:{proxy.port}"})


def test_an_admin_app_without_password_refuses_what_a_proxy_relays(server: ServerProcess) -> None:
    with proxy_to(server.admin_port) as proxy, through(proxy) as web:
        r = web.get(f"{A}/secrets")
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["code"] == "forbidden"
        assert "server.adminPassword" in body["error"] and lan_address() in body["error"]
        made = web.post(f"{A}/secrets", json={"name": "planted", "key": "PLANTED", "value": "x"},
                        headers={"Origin": proxy.public_url})
        assert made.status_code == 403
    # nothing was written, and the operator on this machine is served as before
    local = httpx.get(f"{server.admin_url}{A}/secrets", timeout=30)
    assert local.status_code == 200 and local.json() == []


def test_an_open_user_api_refuses_what_a_proxy_relays(server: ServerProcess) -> None:
    """No client exists, so the user API answers this machine only: a proxy's callers are not it."""
    with proxy_to(server.port) as proxy, through(proxy) as web:
        r = web.get("/v1/models")
        assert r.status_code == 403, r.text
        assert "create a client" in r.json()["error"]["message"]
        assert web.get("/api/v1/agent/list-apps").status_code == 403
    assert httpx.get(f"{server.user_url}/v1/models", timeout=30).status_code == 200


def test_a_forwarding_header_naming_this_machine_changes_nothing(server: ServerProcess) -> None:
    """A local proxy relaying a local browser (or a script writing loopback) is still this machine."""
    for headers in ({"X-Forwarded-For": "127.0.0.1"}, {"Forwarded": 'for="[::1]:5000";proto=https'},
                    {"X-Real-IP": "::ffff:127.0.0.1"}):
        assert httpx.get(f"{server.admin_url}{A}/secrets", headers=headers, timeout=30).status_code == 200
    for headers in ({"Forwarded": "for=203.0.113.7"}, {"X-Real-IP": "192.168.1.20"},
                    {"X-Forwarded-For": "unknown"}):
        assert httpx.get(f"{server.admin_url}{A}/secrets", headers=headers, timeout=30).status_code == 403


def test_the_voice_pairing_cookie_is_secure_behind_a_tls_proxy_named_by_public_url(tmp_path: Path) -> None:
    """docs/security.md: behind a TLS proxy set ``server.publicURL`` (or trust the proxy). With the
    URL alone magec sees plain HTTP, and the Voice UI's pairing cookie — the client token — went out
    without ``Secure``: a browser sends such a cookie to the same host's ``http://`` port as well,
    where anyone on the path reads it."""
    srv = ServerProcess(data_dir=tmp_path / "d")
    with ReverseProxy(srv.port, server_name=NAME) as proxy:
        srv.server_config = {"publicURL": proxy.public_url}
        with srv:
            admin = httpx.Client(base_url=srv.admin_url, timeout=30)
            token = admin.post(f"{A}/clients", json={"name": "Phone", "type": "direct"}).json()["token"]
            with httpx.Client(base_url=proxy.url, verify=False, timeout=30,
                              headers={"Host": f"{NAME}:{proxy.port}"}) as phone:
                r = phone.get("/api/v1/client/info", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.json()["paired"] is True
            cookie = r.headers["set-cookie"]
            assert cookie.startswith("magec_voice_token=") and "; secure" in cookie.lower(), cookie
            # reached directly over plain HTTP (this machine, no proxy) it stays a plain-HTTP cookie
            direct = httpx.get(f"{srv.user_url}/api/v1/client/info", headers={"Authorization": f"Bearer {token}"})
            assert "secure" not in direct.headers["set-cookie"].lower()


def test_an_admin_ui_behind_a_tls_proxy_is_told_which_setting_makes_its_saves_work(tmp_path: Path) -> None:
    """The operator set ``server.publicURL`` (the user API's https address), as docs/security.md
    says, and reaches the Admin UI at its own https name through the same kind of proxy: every save
    was refused with advice to set server.publicURL — already set, and no help to the admin app.
    The refusal now names the proxy's address for ``server.trustedProxies`` (or the origin for
    ``server.adminOrigins``); with the proxy trusted the save works."""
    admin_name = "admin.magec.test"
    first = ServerProcess(data_dir=tmp_path / "d", admin_password="right-password-123")
    with ReverseProxy(first.port, server_name=NAME) as users, ReverseProxy(first.admin_port, server_name=admin_name) as admins:
        page = f"https://{admin_name}:{admins.port}"
        secret = {"name": "K", "key": "K", "value": "v"}
        headers = {"Host": f"{admin_name}:{admins.port}", "Origin": page,
                   "Authorization": "Bearer right-password-123"}
        for trusted in ([], ["127.0.0.1"]):
            # the operator edits config.yaml and restarts magec on the same ports
            srv = ServerProcess(data_dir=first.data_dir, port=first.port, admin_port=first.admin_port,
                                admin_password=first.admin_password,
                                server_config={"publicURL": users.public_url, "allowedHosts": [admin_name],
                                               "trustedProxies": trusted})
            with srv, httpx.Client(base_url=admins.url, verify=False, timeout=30, headers=headers) as ui:
                r = ui.post(f"{A}/secrets", json=secret)
                if trusted:
                    assert r.status_code == 201, r.text
                    continue
                assert r.status_code == 403 and r.json()["field"] == "Origin", r.text
                error = r.json()["error"]
                assert "reached magec as plain http through a proxy at 127.0.0.1" in error, error
                assert "add the proxy's address (127.0.0.1) to server.trustedProxies" in error
                assert f"list {page} in server.adminOrigins" in error
                assert "publicURL" not in error  # the user API's address: setting it again changes nothing here
