"""A UI test per page: every Admin UI page (magec/ui/js/nav.js) is opened and driven in a real
Chromium by some test in tests/ui; the pages no other test drives on its own get theirs here (open
it, do its main action, check the result over the UI and the Admin API, screenshot to
``test-artifacts/ui/<page>.png``).

Pages with their own module: backends, agents, playground, flows, memory, clients (test_admin_ui,
test_live_health, test_playground_ui, test_flow_graph_ui, test_memory_ui, test_clients_ui), skills,
conversations, costs. :func:`test_every_page_has_a_ui_test` keeps it that way for pages added later.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD, ROOT
from .test_admin_ui import nav, shot, signed_in

pytestmark = pytest.mark.ui

UI_TESTS = Path(__file__).resolve().parent


def admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                        headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)


def nav_pages() -> list[str]:
    src = (ROOT / "magec" / "ui" / "js" / "nav.js").read_text()
    return re.findall(r"\{\s*id:\s*'([a-z-]+)'", src)


def test_every_page_has_a_ui_test() -> None:
    """Each page of the sidebar is opened by at least one Chromium test (``nav(page, "<id>")`` or
    its ``#/<id>`` URL) — a page added without a test fails here."""
    pages = nav_pages()
    assert len(pages) >= 14 and "overview" in pages and "settings" in pages, pages
    sources = "\n".join(p.read_text() for p in UI_TESTS.glob("test_*.py"))
    missing = [p for p in pages if f'nav(page, "{p}")' not in sources and f"#/{p}" not in sources]
    assert not missing, f"pages without a UI test in tests/ui: {missing}"


def test_overview_counts_and_tiles(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                   artifacts: Path) -> None:
    api = admin(server)
    b = api.post("/backends", json={"name": "Ov backend", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    for name in ("Ov one", "Ov two"):
        api.post("/agents", json={"name": name, "llm": {"backend": b["id"], "model": "alpha-chat"}}).raise_for_status()
    signed_in(page, server)
    nav(page, "overview")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    # The tiles count what the server holds.
    for tile, path in (("agents", "/agents"), ("backends", "/backends"), ("flows", "/flows")):
        n = len(api.get(path).json())
        expect(page.locator(f".tile-{tile} .tile-n")).to_have_text(str(n))
    expect(page.locator("main")).to_contain_text("Ov one")  # the agents panel
    shot(page, artifacts, "overview")
    # Main action: a tile opens its page.
    page.locator(".tile-agents").click()
    expect(page.locator(".nav-item.active")).to_have_attribute("data-nav", "agents")
    expect(page.get_by_test_id("agent-Ov two")).to_be_visible()
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_settings_long_term_provider_and_flow_limits(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                                     artifacts: Path) -> None:
    api = admin(server)
    b = api.post("/backends", json={"name": "St embed", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    mem = api.post("/memory", json={"name": "St notes", "type": "sqlite", "category": "longterm", "config": {},
                                    "embedding": {"backend": b["id"], "model": "alpha-embed"}})
    assert mem.status_code == 201, mem.text
    signed_in(page, server)
    nav(page, "settings")
    page.wait_for_load_state("networkidle")  # the settings read at sign-in refills the form when it lands
    long = page.get_by_label("Long-term provider")
    expect(long.locator("option", has_text="St notes")).to_have_count(1)
    long.select_option(label="St notes (sqlite)")
    page.get_by_role("button", name="Save settings").first.click()
    expect(page.locator(".toast", has_text="Settings saved")).to_be_visible()
    assert api.get("/settings").json()["longTermProvider"] == mem.json()["id"]

    # The flows limits are saved too, and both survive a reload (read back from the server).
    flows = page.get_by_test_id("flow-settings")
    flows.get_by_label("Code timeout (ms)").fill("1500")
    with page.expect_response(lambda r: r.url.endswith("/settings") and r.request.method == "PUT") as put:
        flows.get_by_role("button", name="Save settings").click()
    assert put.value.ok, put.value.text()
    settings = api.get("/settings").json()
    assert settings["flows"]["executionTimeoutMs"] == 1500
    assert settings["longTermProvider"] == mem.json()["id"]
    page.reload()
    expect(page.get_by_label("Long-term provider")).to_have_value(mem.json()["id"])
    expect(page.get_by_test_id("flow-settings").get_by_label("Code timeout (ms)")).to_have_value("1500")

    # Session retention: saved into settings.sessions, then applied at once from the same panel,
    # with the saved value only, after saying what it will delete
    agent = api.post("/agents", json={"name": "St keeper", "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()
    sessions = f"/agent/apps/{agent['id']}/users/old-user/sessions"
    for sid in ("long-gone", "fresh"):
        api.post(sessions, json={"sessionId": sid}).raise_for_status()
    with sqlite3.connect(server.data_dir / "magec.db") as db:  # "long-gone": as it will be in 40 days
        db.execute("UPDATE session_sessions SET update_time = update_time - 40 * 86400, "
                   "create_time = create_time - 40 * 86400 WHERE session_id = 'long-gone'")
    days = page.get_by_label("Delete conversations idle for (days)")
    prune = page.get_by_role("button", name="Delete idle sessions now")
    expect(days).to_have_value("0")
    expect(prune).to_be_disabled()  # nothing to apply while retention is off
    days.fill("30")
    expect(prune).to_be_disabled()  # not saved yet: a prune would apply the saved value
    days.locator("xpath=ancestor::form").get_by_role("button", name="Save settings").click()
    expect(page.locator(".toast", has_text="Settings saved").last).to_be_visible()
    settings = api.get("/settings").json()
    assert settings["sessions"] == {"retentionDays": 30}
    assert settings["flows"]["executionTimeoutMs"] == 1500 and settings["longTermProvider"] == mem.json()["id"]
    days.fill("365")
    expect(prune).to_be_disabled()
    days.fill("30")
    prune.click()
    dialog = page.get_by_test_id("ask-dialog")
    expect(dialog).to_contain_text("Delete 1 conversation idle for more than 30 days, with their artifacts?")
    dialog.get_by_role("button", name="Cancel").click()
    assert api.get(f"{sessions}/long-gone").status_code == 200  # cancelled: nothing deleted
    prune.click()
    page.get_by_test_id("ask-dialog").get_by_role("button", name="Delete").click()
    expect(page.locator(".toast", has_text="Deleted 1 idle session")).to_be_visible()
    assert api.get(f"{sessions}/long-gone").status_code == 404
    assert api.get(f"{sessions}/fresh").status_code == 200
    shot(page, artifacts, "settings")
    # what a plain DELETE of something in use does (settings.deleteReferenced)
    deleting = page.get_by_test_id("delete-settings")
    choice = deleting.get_by_label("Deleting something still in use (API calls without ?force)")
    expect(choice).to_have_value("refuse")
    choice.select_option("scrub")
    with page.expect_response(lambda r: r.url.endswith("/settings") and r.request.method == "PUT") as put:
        deleting.get_by_role("button", name="Save settings").click()
    assert put.value.ok, put.value.text()
    settings = api.get("/settings").json()
    assert settings["deleteReferenced"] == "scrub" and settings["sessions"] == {"retentionDays": 30}
    api.put("/settings", json={**settings, "sessions": {"retentionDays": 0}, "deleteReferenced": "refuse"}).raise_for_status()
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_commands_create_and_edit(page: Page, server: ServerProcess, artifacts: Path) -> None:
    api = admin(server)
    signed_in(page, server)
    nav(page, "commands")
    page.get_by_role("button", name="New command").first.click()
    dlg = page.get_by_test_id("command-dialog")
    dlg.get_by_label("Name").fill("Weekly report")
    dlg.get_by_label("Prompt").fill("Summarise this week.")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    card = page.locator(".card.command", has_text="Weekly report")
    expect(card).to_contain_text("Summarise this week.")
    # Edit: the dialog opens with the stored prompt; the change is shown and stored.
    card.get_by_role("button", name="Edit").click()
    expect(dlg.get_by_label("Prompt")).to_have_value("Summarise this week.")
    dlg.get_by_label("Prompt").fill("Summarise this week, in three bullets.")
    dlg.get_by_role("button", name="Save").click()
    expect(dlg).to_be_hidden()
    expect(card).to_contain_text("in three bullets")
    stored = [c for c in api.get("/commands").json() if c["name"] == "Weekly report"]
    assert len(stored) == 1 and stored[0]["prompt"] == "Summarise this week, in three bullets."
    shot(page, artifacts, "commands")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_mcps_create_http_server(page: Page, server: ServerProcess, artifacts: Path) -> None:
    api = admin(server)
    signed_in(page, server)
    nav(page, "mcps")
    page.get_by_role("button", name="New MCP server").first.click()
    dlg = page.get_by_test_id("mcp-dialog")
    dlg.get_by_label("Name").fill("Home")
    dlg.get_by_text("HTTP", exact=True).click()
    # the usual slip, no scheme: refused, and said under the Endpoint field, which gets the focus
    endpoint = dlg.get_by_label("Endpoint")
    endpoint.fill("127.0.0.1:9/mcp")
    dlg.get_by_role("button", name="Create").click()
    expect(endpoint).to_have_attribute("aria-invalid", "true")
    expect(endpoint).to_be_focused()
    expect(dlg.locator(".field-error")).to_have_text("endpoint must start with http:// or https://")
    assert not [m for m in api.get("/mcps").json() if m["name"] == "Home"]
    endpoint.fill("http://127.0.0.1:9/mcp")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    card = page.locator(".card.mcp", has_text="Home")
    expect(card).to_contain_text("http://127.0.0.1:9/mcp")
    stored: list[dict[str, Any]] = [m for m in api.get("/mcps").json() if m["name"] == "Home"]
    assert len(stored) == 1 and stored[0]["type"] == "http" and stored[0]["endpoint"] == "http://127.0.0.1:9/mcp"
    shot(page, artifacts, "mcps")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_secrets_create_never_shows_the_value(page: Page, server: ServerProcess, artifacts: Path) -> None:
    api = admin(server)
    signed_in(page, server)
    nav(page, "secrets")
    page.get_by_role("button", name="New secret").first.click()
    dlg = page.get_by_test_id("secret-dialog")
    dlg.get_by_label("Name").fill("Weather token")
    expect(dlg.get_by_label("Key")).to_have_value("WEATHER_TOKEN")
    dlg.get_by_label("Value").fill("wx-canary-5a1f")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    row = page.get_by_test_id("secret-WEATHER_TOKEN")
    expect(row).to_contain_text("${WEATHER_TOKEN}")
    expect(row).to_contain_text("Weather token")
    assert "wx-canary-5a1f" not in page.content()
    listed = api.get("/secrets").json()
    assert any(s["key"] == "WEATHER_TOKEN" for s in listed) and "wx-canary-5a1f" not in str(listed)
    # Editing leaves the value stored when the field stays empty.
    row.get_by_role("button", name="Edit").click()
    expect(dlg.get_by_label("Value")).to_have_value("")
    dlg.get_by_label("Description").fill("for the weather tool")
    dlg.get_by_role("button", name="Save").click()
    expect(dlg).to_be_hidden()
    expect(row).to_contain_text("for the weather tool")
    # a secret imported without its value (a Magec store without its key) says so, and asks for it
    store_json = server.data_dir / "magec-store.json"
    store_json.write_text(json.dumps({"secrets": [{"id": "sec-imp", "name": "Imported", "key": "IMPORTED_KEY",
                                                   "value": "enc:v1:sealed-under-magecs-key"}]}))
    done = subprocess.run([sys.executable, "-m", "magec", "import-magec", str(store_json),
                           "--config", str(server.data_dir / "config.yaml")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "REENTER" in done.stderr, done.stderr
    assert api.get("/secrets/sec-imp").json()["needsValue"] is True
    assert {x["key"]: x["needsValue"] for x in api.get("/secrets").json()}["WEATHER_TOKEN"] is False
    page.keyboard.press("r")  # refresh
    missing = page.get_by_test_id("secret-needs-value-IMPORTED_KEY")
    expect(missing).to_contain_text("No value: enter it")
    expect(page.get_by_test_id("secret-needs-value-WEATHER_TOKEN")).to_have_count(0)
    missing.click()
    expect(dlg).to_contain_text("This secret has no value")
    dlg.get_by_role("button", name="Save").click()
    expect(dlg.get_by_role("alert")).to_contain_text("Value is required")
    dlg.get_by_label("Value").fill("typed-again-1234")
    dlg.get_by_role("button", name="Save").click()
    expect(dlg).to_be_hidden()
    expect(page.get_by_test_id("secret-needs-value-IMPORTED_KEY")).to_have_count(0)
    assert api.get("/secrets/sec-imp").json()["needsValue"] is False
    shot(page, artifacts, "secrets")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_settings_are_not_offered_before_they_are_read(page: Page, server: ServerProcess) -> None:
    """Opened straight at #/settings over a slow network, the Settings page showed its forms with
    magec's defaults until the settings read landed: "Save settings" meanwhile put those defaults
    over what was stored (retention back to 0, deletes back to "refuse"). The forms wait for the
    read, then show and save the stored values with the edit."""
    api = admin(server)
    r = api.put("/settings", json={"sessions": {"retentionDays": 30}, "deleteReferenced": "scrub"})
    assert r.status_code == 200, r.text
    held: list[Any] = []
    page.route("**/api/v1/admin/settings", lambda route: held.append(route) if route.request.method == "GET"
               else route.continue_())
    page.add_init_script(f"sessionStorage.setItem('magec.adminPassword', {ADMIN_PASSWORD!r})")
    page.goto(server.admin_url + "/#/settings")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    expect(page.get_by_role("heading", name="Backup")).to_be_visible()  # the rest of the page is there
    deadline = time.monotonic() + 20  # the browser issues the read as the page mounts: after the headings
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert held, "the app reads the settings as it starts"
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)  # nothing to save over them yet
    for route in held:
        route.continue_()
    page.unroute("**/api/v1/admin/settings")
    days = page.get_by_label("Delete conversations idle for (days)")
    expect(days).to_have_value("30")
    flows = page.get_by_test_id("flow-settings")
    flows.get_by_label("Code timeout (ms)").fill("2500")
    flows.get_by_role("button", name="Save settings").click()
    expect(page.locator(".toast", has_text="Settings saved")).to_be_visible()
    saved = api.get("/settings").json()
    assert saved["flows"]["executionTimeoutMs"] == 2500
    assert saved["sessions"]["retentionDays"] == 30 and saved["deleteReferenced"] == "scrub"
    api.put("/settings", json={"sessions": {"retentionDays": 0}, "deleteReferenced": "refuse",
                               "flows": {"executionTimeoutMs": 0}}).raise_for_status()
