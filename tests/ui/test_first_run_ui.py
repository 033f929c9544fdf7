"""What the Admin UI tells an operator who never set an admin password (the first run).

Nothing did: the only word was a start-up log line. The Overview now says that this Admin UI
answers only this machine, where it listens, what to set before exposing it (a reverse proxy's
visitors are refused until then) and, while no client exists, that the user API answers only
this machine too. With a password set the panel is not there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.proxy import ReverseProxy, lan_address
from magec.testing.server import ServerProcess
from tests.ui.conftest import ADMIN_PASSWORD, CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(data_dir=tmp_path_factory.mktemp("first-run")) as srv:  # no admin password
        yield srv


def test_the_overview_says_there_is_no_admin_password_and_what_to_set(page: Page, first_run: ServerProcess) -> None:
    page.goto(first_run.admin_url + "/#/overview")
    panel = page.get_by_test_id("access-panel")
    expect(panel).to_contain_text("No admin password")
    expect(panel).to_contain_text(f"127.0.0.1:{first_run.admin_port}")
    expect(panel).to_contain_text("server.adminPassword")
    expect(panel).to_contain_text("MAGEC_ADMIN_PASSWORD")
    expect(panel.get_by_test_id("access-open-user-api")).to_contain_text("needs no token until you create a client")
    # once a client exists the user API wants its token: that line goes, the password advice stays
    httpx.post(f"{first_run.admin_url}/api/v1/admin/clients", json={"name": "Phone", "type": "direct"}, timeout=30)
    page.reload()
    expect(panel).to_contain_text("No admin password")
    expect(panel.get_by_test_id("access-open-user-api")).to_have_count(0)
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_with_a_password_the_overview_says_nothing_of_it(page: Page, server: ServerProcess) -> None:
    page.goto(server.admin_url + "/#/overview")
    page.fill("#login-pw", ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Getting started")).to_be_visible()
    expect(page.get_by_test_id("overview-costs")).to_be_visible()
    expect(page.get_by_test_id("access-panel")).to_have_count(0)


def test_an_admin_ui_reached_through_a_proxy_without_password_says_why_instead_of_an_empty_server(
        pw: object, tmp_path: Path) -> None:
    """The operator put a TLS proxy in front (on this machine) and never set a password: the Admin
    API refuses what the proxy relays (tests/security/test_behind_proxy.py). The page showed an empty
    server — 0 backends, "Getting started" — with the reason in small print in one panel; now it
    shows the reason alone."""
    name = "admin.magec.test"
    srv = ServerProcess(data_dir=tmp_path / "d", server_config={"allowedHosts": [name]})
    with srv, ReverseProxy(srv.admin_port, server_name=name, host="0.0.0.0") as proxy:
        browser = pw.chromium.launch(  # type: ignore[attr-defined]
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {name} {lan_address()}"])
        try:
            ctx = browser.new_context(ignore_https_errors=True)
            page = ctx.new_page()
            page.goto(proxy.public_url + "/")
            blocked = page.get_by_test_id("admin-blocked")
            expect(blocked).to_contain_text("This Admin UI cannot be used from here.")
            expect(blocked.get_by_role("alert")).to_contain_text("set server.adminPassword (MAGEC_ADMIN_PASSWORD)")
            expect(page.get_by_text("Getting started")).to_have_count(0)
            expect(page.get_by_role("navigation")).to_have_count(0)
        finally:
            browser.close()
