"""The Origin rule compares scheme, host and port with what the server actually serves.

An app served over https (TLS on a trusted proxy) took a write from ``Origin: http://<same host>``:
the check compared only host:port, so whoever can answer plain HTTP for the name (anyone on the
path, a LAN neighbour spoofing it) could serve a page that drives the Admin API with the admin's
browser. ``X-Forwarded-Proto`` says the scheme only when the peer is a trusted proxy.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from magec.testing.apps import running_apps
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
PW = "right-password-123"


async def test_an_http_page_cannot_write_to_an_app_served_over_https(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d") as apps:
        secret = {"name": "S", "key": "S", "value": "v"}
        # the Admin UI served over https, posting from its own page
        r = await apps.admin.post(f"https://admin{A}/secrets", json=secret, headers={"Origin": "https://admin"})
        assert r.status_code == 201, r.text
        # a plain-http page of the same host name is another origin
        r = await apps.admin.post(f"https://admin{A}/secrets", json={**secret, "key": "T"},
                                  headers={"Origin": "http://admin"})
        assert r.status_code == 403 and r.json()["field"] == "Origin", r.text
        assert "plain-http page" in r.json()["error"]
        # and the other way round: an https origin is not the http app's own
        r = await apps.admin.post(f"http://admin{A}/secrets", json={**secret, "key": "U"},
                                  headers={"Origin": "https://admin"})
        assert r.status_code == 403
        # the user app (the Voice UI's writes) follows the same rule
        run = {"appName": "x", "userId": "u", "sessionId": "s", "newMessage": {"role": "user", "parts": [{"text": "hi"}]}}
        r = await apps.user.post("https://user/api/v1/agent/run", json=run, headers={"Origin": "http://user"})
        assert r.status_code == 403 and r.json()["field"] == "Origin", r.text
        assert [s["key"] for s in (await apps.admin.get(f"{A}/secrets")).json()] == ["S"]


async def test_public_url_names_the_scheme_of_its_host(tmp_path: Path) -> None:
    # behind a TLS proxy that is not listed in trustedProxies the request arrives as http; the
    # operator's publicURL says that host is served over https
    async with running_apps(tmp_path / "d", config={"public_url": "https://magec.example.com",
                                                    "allowed_hosts": ["admin", "user", "magec.example.com"]}) as apps:
        secret = {"name": "S", "key": "S", "value": "v"}
        url = f"http://magec.example.com{A}/secrets"
        r = await apps.admin.post(url, json={**secret, "key": "P"}, headers={"Origin": "http://magec.example.com"})
        assert r.status_code == 403, r.text
        r = await apps.admin.post(url, json=secret, headers={"Origin": "https://magec.example.com"})
        assert r.status_code == 201, r.text


def test_forwarded_proto_counts_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    """Through the real server (uvicorn sets the scheme from ``X-Forwarded-Proto``)."""
    auth = {"Authorization": f"Bearer {PW}"}
    with ServerProcess(data_dir=tmp_path / "proxied", admin_password=PW,
                       server_config={"trustedProxies": ["127.0.0.0/8"]}).start() as srv:
        host = srv.admin_url.split("://", 1)[1]
        with httpx.Client(base_url=srv.admin_url, headers=auth, timeout=30) as c:
            tls = {"X-Forwarded-Proto": "https"}
            r = c.post(f"{A}/secrets", json={"name": "A", "key": "A", "value": "v"},
                       headers={**tls, "Origin": f"http://{host}"})
            assert r.status_code == 403, r.text
            r = c.post(f"{A}/secrets", json={"name": "B", "key": "B", "value": "v"},
                       headers={**tls, "Origin": f"https://{host}"})
            assert r.status_code == 201, r.text
    with ServerProcess(data_dir=tmp_path / "direct", admin_password=PW).start() as srv:
        host = srv.admin_url.split("://", 1)[1]
        with httpx.Client(base_url=srv.admin_url, headers=auth, timeout=30) as c:
            # no trusted proxy: a caller's X-Forwarded-Proto changes nothing; the app is served over http
            r = c.post(f"{A}/secrets", json={"name": "C", "key": "C", "value": "v"},
                       headers={"X-Forwarded-Proto": "https", "Origin": f"https://{host}"})
            assert r.status_code == 403, r.text
            r = c.post(f"{A}/secrets", json={"name": "D", "key": "D", "value": "v"},
                       headers={"X-Forwarded-Proto": "https", "Origin": f"http://{host}"})
            assert r.status_code == 201, r.text
