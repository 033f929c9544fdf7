"""Hardening: security headers, no-store on API responses, /metrics auth, file modes, key warning."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import stat
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from magec.api.admin.app import UI_DIR
from magec.testing.apps import running_apps

A = "/api/v1/admin"


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


async def test_admin_ui_and_api_headers(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d") as apps:
        ui = await apps.admin.get("/")
        assert ui.status_code == 200 and "text/html" in ui.headers["content-type"]
        csp = ui.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
        assert directives["default-src"] == "'self'" and directives["connect-src"] == "'self'"
        assert "blob:" in directives["media-src"]  # playground audio
        assert "'unsafe-inline'" not in directives["script-src"]
        # the inline import map is allowed by its hash, exactly
        importmap = re.search(r"<script type=\"importmap\">(.*?)</script>", (UI_DIR / "index.html").read_text(), re.S)
        assert importmap is not None
        digest = base64.b64encode(hashlib.sha256(importmap.group(1).encode()).digest()).decode()
        assert f"'sha256-{digest}'" in directives["script-src"]
        # docs/security.md quotes the policy whole: an operator copying it to a proxy gets this one
        doc = " ".join((Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text().split())
        quoted = re.search(r"`Content-Security-Policy: (.*?)`", doc)
        assert quoted is not None
        assert quoted.group(1).replace("'sha256-<import map>'", f"'sha256-{digest}'") == csp
        for r in (ui, await apps.admin.get("/js/main.js"), await apps.admin.get(f"{A}/backends")):
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
        # API responses (they list settings and resource configuration) are never cached
        for r in (await apps.admin.get(f"{A}/backends"), await apps.admin.get(f"{A}/nope"),
                  await apps.admin.post(f"{A}/mcps", content=b"x", headers={"Content-Type": "text/plain"})):
            assert r.headers["cache-control"] == "no-store", r.url
        # refusals carry the headers too
        r = await apps.admin.get(f"{A}/backends", headers={"Host": "evil.example"})
        assert r.status_code == 400 and r.headers["x-frame-options"] == "DENY"
        # the user app: no-store on API responses, nosniff everywhere
        r = await apps.user.get("/v1/models")
        assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"


async def test_metrics_auth(tmp_path: Path) -> None:
    # no token, no admin password: open (counts and route templates only)
    async with running_apps(tmp_path / "a") as apps:
        assert (await apps.admin.get("/metrics")).status_code == 200
        assert (await apps.user.get("/metrics")).status_code == 200
    # admin password: the admin port's /metrics is behind it like everything else there
    async with running_apps(tmp_path / "b", admin_password="adm-pw-1") as apps:
        assert (await apps.admin.get("/metrics")).status_code == 200  # the client sends the password
        req = apps.admin.build_request("GET", "/metrics")
        req.headers.pop("authorization")
        r = await apps.admin.send(req)
        assert r.status_code == 401 and "error" in r.json()
        # guessing the password there counts in the same limiter
        for _ in range(5):
            assert (await apps.admin.get("/metrics", headers={"Authorization": "Bearer guess"})).status_code == 401
        assert (await apps.admin.get(f"{A}/backends", headers={"Authorization": "Bearer guess"})).status_code == 429
    # metrics token: required on both ports
    async with running_apps(tmp_path / "c", config={"metrics_token": "mt-0123456789"}) as apps:
        good = {"Authorization": "Bearer mt-0123456789"}
        for client in (apps.admin, apps.user):
            assert (await client.get("/metrics")).status_code == 401
            assert (await client.get("/metrics", headers={"Authorization": "Bearer nope"})).status_code == 401
            r = await client.get("/metrics", headers=good)
            assert r.status_code == 200 and "magec_http_requests_total" in r.text


async def test_data_dir_and_files_are_private(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    caplog.set_level(logging.WARNING)
    async with running_apps(data, encryption_key="") as apps:  # no key configured: one is generated
        assert (await apps.admin.post(f"{A}/secrets", json={"name": "S", "key": "S", "value": "v"})).status_code == 201
    assert _mode(data) == 0o700
    assert _mode(data / "magec.db") == 0o600
    assert _mode(data / "encryption.key") == 0o600
    warned = [r.getMessage() for r in caplog.records if "encryption key" in r.getMessage()]
    assert warned and "data dir" in warned[0] and "server.encryptionKey" in warned[0]

    # an existing install with loose modes is tightened at the next start, and warned again
    (data / "magec.db").chmod(0o644)
    (data / "encryption.key").chmod(0o644)
    caplog.clear()
    async with running_apps(data, encryption_key=""):
        pass
    assert _mode(data / "magec.db") == 0o600 and _mode(data / "encryption.key") == 0o600
    assert any("lives in the data dir" in r.getMessage() for r in caplog.records)


#: the attributes and Swagger/ReDoc options through which a page loads something
_LOADS = re.compile(r"""(?:\b(?:src|href)\s*=\s*|\burl\s*:\s*|spec-url\s*=\s*)["']([^"']+)["']""")


async def test_no_page_loads_anything_from_another_origin(tmp_path: Path) -> None:
    """Whatever a browser opens on either port loads code, styles and documents from magec only.

    FastAPI's ReDoc page (``/redoc``, on by default) put an unpinned script from a CDN (and Google
    Fonts) on the admin origin, with no CSP: with no admin password (the default) whoever serves
    that script could drive the Admin API, which starts processes. Swagger's sample page in the
    docs assets fetched and rendered a document from petstore.swagger.io on the same origin."""
    async with running_apps(tmp_path / "d") as apps:
        for client, host in ((apps.admin, "admin"), (apps.user, "user")):
            for path in ("/", "/docs", "/redoc", "/docs-assets/index.html",
                         "/docs-assets/swagger-initializer.js", "/docs-assets/oauth2-redirect.html"):
                r = await client.get(path)
                if r.status_code == 404:
                    continue
                assert r.status_code == 200, (host, path, r.status_code)
                foreign = [u for u in _LOADS.findall(r.text) if urlsplit(u).netloc not in ("", host)]
                assert foreign == [], (host, path, foreign)
            # what /docs needs is still there
            for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
                assert (await client.get(f"/docs-assets/{asset}")).status_code == 200, (host, asset)


async def test_every_ui_page_carries_the_csp(tmp_path: Path) -> None:
    """The UIs' CSP was left off every path *starting with* ``/docs``, ``/redoc``, ``/swagger`` or
    ``/openapi.json`` — and the UIs' catch-all answers such a path (``/docs-x``, ``/swaggerz``)
    with the UI itself, so a link there opened the whole Admin UI without its CSP."""
    async with running_apps(tmp_path / "d") as apps:
        for client in (apps.admin, apps.user):
            expected = (await client.get("/")).headers["content-security-policy"]
            for path in ("/docs-x", "/docsx/#/agents", "/redoc", "/redocx", "/swaggerz", "/openapi.jsonx",
                         "/metricsx"):
                r = await client.get(path)
                assert r.status_code == 200 and "text/html" in r.headers["content-type"], (path, r.status_code)
                assert r.headers.get("content-security-policy") == expected, path
