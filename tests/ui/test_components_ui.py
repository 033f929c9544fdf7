"""Shared components of the Admin UI (real Chromium, a real ``magec serve``): toasts that cover
nothing important, the one-dialog delete in user words, server field errors shown at the field,
the secret-key format message, and a fast first load (module preloads, revalidated caching)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import chat, nav, shot, signed_in

pytestmark = pytest.mark.ui


def _overlap(a: Locator, b: Locator) -> bool:
    x, y = a.bounding_box(), b.bounding_box()
    assert x and y
    return not (x["x"] + x["width"] <= y["x"] or y["x"] + y["width"] <= x["x"]
                or x["y"] + x["height"] <= y["y"] or y["y"] + y["height"] <= x["y"])


def test_toasts_cover_nothing_important(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                        api: httpx.Client, artifacts: Path) -> None:
    b = api.post("/backends", json={"name": "ToastAlpha", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    api.post("/agents", json={"name": "ToastAgent", "llm": {"backend": b["id"], "model": "alpha-chat"}}).raise_for_status()
    signed_in(page, server)
    nav(page, "agents")
    page.get_by_role("button", name="Refresh").click()
    toast = page.get_by_test_id("toasts").locator(".toast").filter(has_text="Refreshed")
    expect(toast).to_be_visible()
    assert not _overlap(toast, page.get_by_role("button", name="New agent").first)
    assert not _overlap(toast, page.locator("h1").first)
    # dismissible from the keyboard too
    toast.get_by_role("button", name="Dismiss").click()
    expect(toast).to_have_count(0)

    nav(page, "playground")
    page.get_by_test_id("pg-app").select_option(label="ToastAgent")
    chat(page, "Hello toast")
    expect(page.get_by_test_id("agent-text").last).to_contain_text("Hello toast", timeout=30_000)
    page.get_by_role("button", name="Refresh").click()
    page.get_by_role("button", name="Refresh").click()  # two stacked toasts
    toasts = page.get_by_test_id("toasts").locator(".toast")
    expect(toasts).to_have_count(2)
    shot(page, artifacts, "toasts-playground", full=False)
    for i in range(2):
        t = toasts.nth(i)
        assert not _overlap(t, page.get_by_test_id("pg-input"))
        assert not _overlap(t, page.get_by_role("button", name="Send"))
        assert not _overlap(t, page.locator(".msg.user").first)
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_delete_is_one_dialog_in_user_words(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                            api: httpx.Client, artifacts: Path) -> None:
    b = api.post("/backends", json={"name": "DelAlpha", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    a = api.post("/agents", json={"name": "DelAgent", "llm": {"backend": b["id"], "model": "alpha-chat"},
                                  "tts": {"backend": b["id"], "voice": "alloy"}}).json()
    cmd = api.post("/commands", json={"name": "DelCommand", "prompt": "p"}).json()
    # the API the dialog asks first
    refs = api.get(f"/backends/{b['id']}/referrers").json()["references"]
    assert {(r["referrerName"], r["field"]) for r in refs} == {("DelAgent", "llm.backend"), ("DelAgent", "tts.backend")}
    assert api.get("/backends/no-such-id/referrers").status_code == 404

    signed_in(page, server)
    nav(page, "backends")
    page.get_by_test_id("backend-DelAlpha").get_by_role("button", name="Delete").click()
    confirm = page.get_by_test_id("confirm-delete")
    refs_list = confirm.get_by_test_id("reference-list")
    expect(refs_list).to_contain_text("Agent DelAgent uses it for chat and for text-to-speech")
    expect(confirm).to_contain_text("will stop working until you pick a replacement")
    expect(confirm).not_to_contain_text("tts.backend")
    expect(confirm).not_to_contain_text("membership")
    shot(page, artifacts, "delete-one-dialog", full=False)
    buttons = confirm.locator(".modal-foot button")
    expect(buttons).to_have_text(["Cancel", "Remove from it and delete"])
    buttons.nth(1).click()
    expect(page.get_by_test_id("backend-DelAlpha")).to_have_count(0)
    after = api.get(f"/agents/{a['id']}").json()
    assert not after["llm"].get("backend") and not (after.get("tts") or {}).get("backend")

    # an unused item: the same single dialog, a plain question
    nav(page, "commands")
    page.locator("article.card.entity").filter(has_text="DelCommand").get_by_role("button", name="Delete").click()
    expect(confirm).to_contain_text("Delete DelCommand? This cannot be undone.")
    confirm.get_by_role("button", name="Delete", exact=True).click()
    expect(confirm.locator(".modal-box")).to_have_count(0)
    assert api.get(f"/commands/{cmd['id']}").status_code == 404
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_deleting_a_secret_in_use_says_who_uses_it(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                                    api: httpx.Client) -> None:
    """A secret is used by its key (``${KEY}``): deleting one a backend sends as its key used to
    succeed and leave the backend sending none; the one dialog says who uses it first."""
    s = api.post("/secrets", json={"name": "Del key", "key": "DEL_UI_KEY", "value": "sk-del-ui-1234"}).json()
    api.post("/backends", json={"name": "DelKeyed", "type": "openai", "url": fakes["alpha"].url + "/v1",
                                "apiKey": "${DEL_UI_KEY}"}).raise_for_status()
    signed_in(page, server)
    nav(page, "secrets")
    page.get_by_test_id("secret-DEL_UI_KEY").get_by_role("button", name="Delete").click()
    confirm = page.get_by_test_id("confirm-delete")
    expect(confirm.get_by_test_id("reference-list")).to_contain_text("Backend DelKeyed uses it as its API key")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm.locator(".modal-box")).to_have_count(0)
    assert api.get(f"/secrets/{s['id']}").status_code == 200
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_field_errors_at_the_field(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                   api: httpx.Client, artifacts: Path) -> None:
    api.post("/backends", json={"name": "FieldAlpha", "type": "openai", "url": fakes["alpha"].url + "/v1"}).raise_for_status()
    signed_in(page, server)
    nav(page, "agents")
    page.get_by_role("button", name="New agent").first.click()
    dlg = page.get_by_test_id("agent-dialog")
    dlg.get_by_label("Name").first.fill("FieldAgent")
    dlg.locator("#a-llm-backend").select_option(label="FieldAlpha (openai)")
    okey = dlg.locator("#a-okey")
    okey.fill("bad key!")
    dlg.get_by_role("button", name="Create").click()
    # the server's 400 names outputKey: the message sits under that input, which is focused
    err = okey.locator("xpath=..").locator("[data-field-error]")
    expect(err).to_contain_text("outputKey must match")
    expect(okey).to_have_attribute("aria-invalid", "true")
    expect(okey).to_be_focused()
    shot(page, artifacts, "field-error-at-field", full=False)
    okey.fill("good_key")
    expect(err).to_have_count(0)
    dlg.get_by_role("button", name="Create").click()
    expect(dlg.locator(".modal-box")).to_have_count(0)
    assert any(a["name"] == "FieldAgent" and a["outputKey"] == "good_key" for a in api.get("/agents").json())

    # a secret key in the wrong format: the browser says what IS allowed
    nav(page, "secrets")
    page.get_by_role("button", name="New secret").first.click()
    sdlg = page.get_by_test_id("secret-dialog")
    sdlg.locator("#s-name").fill("Bad")
    key = sdlg.locator("#s-key")
    key.fill("1-BAD")
    sdlg.locator("#s-value").fill("v")
    sdlg.get_by_role("button", name="Create").click()
    msg = key.evaluate("el => el.validationMessage")
    assert "capital letters" in msg and "requested format" not in msg, msg
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_first_load_preloads_every_module_and_revalidates(page: Page, server: ServerProcess, artifacts: Path) -> None:
    ui = Path(__file__).resolve().parents[2] / "magec" / "ui"
    modules = {p.relative_to(ui).as_posix() for p in (ui / "js").rglob("*.js")} - {"js/boot.js"}
    with httpx.Client(base_url=server.admin_url, timeout=30) as http:
        r = http.get("/")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
        preloaded = set(__import__("re").findall(r'<link rel="modulepreload" href="\./([^"]+)">', r.text))
        assert modules <= preloaded and "vendor/vue.esm-browser.prod.js" in preloaded
        # unchanged files revalidate to an empty 304
        again = http.get("/", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        js = http.get("/js/main.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert http.get("/js/main.js", headers={"If-None-Match": js.headers["etag"]}).status_code == 304
        assert http.get("/js/../../pyproject.toml").status_code in (200, 404)
        assert "[project]" not in http.get("/js/../../pyproject.toml").text

    # a slow network (300 ms each way): every module is requested up front, none discovered late
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 300,
                                                   "downloadThroughput": -1, "uploadThroughput": -1})
    page.add_init_script(f"sessionStorage.setItem('magec.adminPassword', {ADMIN_PASSWORD!r})")
    page.goto(server.admin_url + "/", wait_until="commit")
    bar = page.locator(".boot-bar")
    expect(bar).to_be_visible()
    shot(page, artifacts, "boot-progress", full=False)
    expect(page.locator("nav")).to_be_visible(timeout=60_000)
    timing = page.evaluate("""() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const js = performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.js'));
        return { htmlEnd: nav.responseEnd, lastStart: Math.max(...js.map((e) => e.startTime)), n: js.length };
    }""")
    assert timing["n"] >= len(modules)
    # discovered by import chains, the last module would start several round trips (>= 600 ms) later
    assert timing["lastStart"] - timing["htmlEnd"] < 450, timing


def test_a_stray_escape_or_backdrop_click_does_not_lose_what_was_typed(page: Page, server: ServerProcess,
                                                                       api: httpx.Client, artifacts: Path) -> None:
    """Esc, a click beside the dialog or its × closed a dialog at once, and everything typed in it
    (a long system prompt) was gone. Once something was typed they ask first, in the dialog: "Keep
    editing" (focused; Esc again) keeps it all, "Discard" closes. An untouched dialog closes at once,
    and the dialog's own Cancel never asks."""
    signed_in(page, server)
    nav(page, "agents")
    page.get_by_role("button", name="New agent").first.click()
    dlg = page.get_by_test_id("agent-dialog")
    box = dlg.locator(".modal-box")
    expect(box).to_be_visible()
    page.keyboard.press("Escape")  # untouched: closes
    expect(box).to_have_count(0)

    page.get_by_role("button", name="New agent").first.click()
    dlg.get_by_label("Name").first.fill("Careful")
    prompt = dlg.get_by_role("textbox", name="System prompt")
    prompt.fill("A long system prompt the user spent ten minutes on.")
    page.keyboard.press("Escape")
    question = dlg.get_by_test_id("discard-changes")
    expect(question).to_be_visible()
    expect(question.get_by_role("button", name="Keep editing")).to_be_focused()
    shot(page, artifacts, "dialog-discard-question", full=False)
    page.keyboard.press("Escape")  # Esc on the question: keep editing
    expect(question).to_have_count(0)
    expect(box).to_be_visible()
    expect(prompt).to_have_value("A long system prompt the user spent ten minutes on.")

    page.mouse.click(5, 5)  # the backdrop, beside the dialog
    expect(question).to_be_visible()
    question.get_by_role("button", name="Keep editing").click()
    expect(question).to_have_count(0)
    dlg.get_by_role("button", name="Close").click()  # the ×
    expect(question).to_be_visible()
    question.get_by_role("button", name="Discard").click()
    expect(box).to_have_count(0)
    assert not any(a["name"] == "Careful" for a in api.get("/agents").json())

    # reopened: a fresh form, and Cancel is an explicit choice that closes without asking
    page.get_by_role("button", name="New agent").first.click()
    expect(dlg.get_by_label("Name").first).to_have_value("")
    dlg.get_by_label("Name").first.fill("Cancelled")
    dlg.get_by_role("button", name="Cancel").click()
    expect(box).to_have_count(0)
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_a_change_made_by_clicks_alone_is_not_lost_either(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                                          api: httpx.Client) -> None:
    """Some edits are clicks, not typing: an allowed agent toggled on a client's chips, nodes added to
    a graph flow. Esc asks before discarding those too (the dialogs pass their form to the modal,
    which compares it with the form it opened with); Esc on an unchanged one closes at once."""
    b = api.post("/backends", json={"name": "ClickAlpha", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    api.post("/agents", json={"name": "ClickAgent", "llm": {"backend": b["id"], "model": "alpha-chat"}}).raise_for_status()
    api.post("/clients", json={"name": "Click client", "type": "direct"}).raise_for_status()
    signed_in(page, server)
    nav(page, "clients")
    page.get_by_test_id("client-Click client").get_by_role("button", name="Edit").click()
    dlg = page.get_by_test_id("client-dialog")
    expect(dlg.locator(".modal-box")).to_be_visible()
    page.keyboard.press("Escape")  # unchanged: closes
    expect(dlg.locator(".modal-box")).to_have_count(0)
    page.get_by_test_id("client-Click client").get_by_role("button", name="Edit").click()
    dlg.get_by_role("button", name="ClickAgent").click()  # a chip: a click, no typing
    page.keyboard.press("Escape")
    question = dlg.get_by_test_id("discard-changes")
    expect(question).to_be_visible()
    question.get_by_role("button", name="Keep editing").click()
    dlg.get_by_role("button", name="Save").click()
    expect(dlg.locator(".modal-box")).to_have_count(0)
    client = next(c for c in api.get("/clients").json() if c["name"] == "Click client")
    assert [a["name"] for a in api.get("/agents").json() if a["id"] in client["allowedAgents"]] == ["ClickAgent"]

    nav(page, "flows")
    page.get_by_role("button", name="New flow").first.click()
    fdlg = page.get_by_test_id("flow-dialog")
    page.keyboard.press("Escape")  # unchanged: closes
    expect(fdlg.locator(".modal-box")).to_have_count(0)
    page.get_by_role("button", name="New flow").first.click()
    fdlg.locator(".flow-tree .add-row").last.get_by_role("button", name="Parallel").click()  # a click
    page.keyboard.press("Escape")
    expect(fdlg.get_by_test_id("discard-changes")).to_be_visible()
    fdlg.get_by_test_id("discard-changes").get_by_role("button", name="Discard").click()
    expect(fdlg.locator(".modal-box")).to_have_count(0)
    assert page.js_errors == []  # type: ignore[attr-defined]
