"""Keyboard-only use of the Admin UI (real Chromium, a real ``magec serve``): Enter or Space on a
focused card, or Enter on its Edit button, OPENS the dialog and never saves (no PUT/POST leaves the
page), on every page with entity cards; Enter typed afterwards in one of the dialog's own fields still
saves, and Enter on a card's other buttons only does what that button does."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, Request, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .test_admin_ui import nav, shot, signed_in

pytestmark = pytest.mark.ui


class Writes:
    """Every state-changing request the page sends to the Admin API."""

    def __init__(self, page: Page) -> None:
        self.seen: list[str] = []
        page.on("request", self._on)

    def _on(self, r: Request) -> None:
        if r.method not in ("GET", "HEAD", "OPTIONS") and "/api/" in r.url:
            self.seen.append(f"{r.method} {r.url}")

    def take(self) -> list[str]:
        out, self.seen = self.seen, []
        return out


#: what a save would change (live health, validity and counters move on their own)
EDITABLE = ("name", "description", "type", "url", "tags", "systemPrompt", "llm", "tts", "transcription", "prompt",
            "root", "nodes", "endpoint", "command", "headers")


def _config(api: httpx.Client) -> dict[str, list[dict[str, object]]]:
    return {k: [{f: x.get(f) for f in ("id", *EDITABLE)} for x in api.get(f"/{k}").json()]
            for k in ("backends", "agents", "commands", "flows", "mcps")}


def _tab_to(page: Page, target: Locator, limit: int = 80) -> None:
    """Press Tab until ``target`` has focus (keyboard only, as a user would)."""
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {target}")


def _open_by_key(page: Page, writes: Writes, card: Locator, dialog: str, key: str, name: str) -> Locator:
    card.focus()
    page.keyboard.press(key)
    dlg = page.get_by_test_id(dialog)
    expect(dlg.locator(".modal-box")).to_be_visible()
    expect(dlg.get_by_label("Name").first).to_have_value(name)
    # give a stray submit every chance to go out before asserting that none did
    page.wait_for_timeout(400)
    assert writes.take() == [], f"{key} on a {dialog} card sent a write"
    expect(dlg.locator(".modal-box")).to_be_visible()
    return dlg


def _close(page: Page, dlg: Locator) -> None:
    page.keyboard.press("Escape")
    expect(dlg.locator(".modal-box")).to_have_count(0)


def test_enter_and_space_open_and_never_save(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                             api: httpx.Client, artifacts: Path) -> None:
    b = api.post("/backends", json={"name": "KbdAlpha", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    a = api.post("/agents", json={"name": "KbdAgent", "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()
    api.post("/commands", json={"name": "KbdCommand", "prompt": "Write the standup"}).raise_for_status()
    api.post("/flows", json={"name": "KbdFlow", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": a["id"]}]}}).raise_for_status()
    api.post("/mcps", json={"name": "KbdTools", "type": "http", "endpoint": "http://127.0.0.1:9/mcp"}).raise_for_status()
    before = _config(api)

    writes = Writes(page)
    signed_in(page, server)

    # agents: Tab to the card like a keyboard user, Enter opens it
    nav(page, "agents")
    card = page.get_by_test_id("agent-KbdAgent")
    _tab_to(page, card)
    dlg = _open_by_key(page, writes, card, "agent-dialog", "Enter", "KbdAgent")
    shot(page, artifacts, "keyboard-enter-opens-agent", full=False)
    _close(page, dlg)
    # Space on the card opens it too, and types nothing into the focused Name field
    dlg = _open_by_key(page, writes, card, "agent-dialog", " ", "KbdAgent")
    _close(page, dlg)
    # Enter on the card's Edit button: opens, no save
    edit = card.get_by_role("button", name="Edit")
    edit.focus()
    page.keyboard.press("Enter")
    expect(dlg.locator(".modal-box")).to_be_visible()
    page.wait_for_timeout(400)
    assert writes.take() == []
    _close(page, dlg)
    # Enter on the card's Delete button asks to delete (its own action), not the edit dialog
    card.get_by_role("button", name="Delete").focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_test_id("confirm-delete")
    expect(confirm.locator(".modal-box")).to_be_visible()
    expect(page.get_by_test_id("agent-dialog").locator(".modal-box")).to_have_count(0)
    page.wait_for_timeout(300)
    assert writes.take() == []
    _close(page, confirm)

    # the other pages with entity cards, each opened with Enter on the card
    for page_id, testid, dialog, name in [
        ("backends", "backend-KbdAlpha", "backend-dialog", "KbdAlpha"),
        ("commands", None, "command-dialog", "KbdCommand"),
        ("flows", "flow-KbdFlow", "flow-dialog", "KbdFlow"),
        ("mcps", None, "mcp-dialog", "KbdTools"),
    ]:
        nav(page, page_id)
        card = (page.get_by_test_id(testid) if testid
                else page.locator("article.card.entity").filter(has_text=name))
        dlg = _open_by_key(page, writes, card, dialog, "Enter", name)
        _close(page, dlg)

    assert _config(api) == before

    # Enter typed in one of the dialog's own text fields still saves (a fresh keystroke)
    nav(page, "agents")
    dlg = _open_by_key(page, writes, page.get_by_test_id("agent-KbdAgent"), "agent-dialog", "Enter", "KbdAgent")
    name = dlg.get_by_label("Name").first
    name.fill("KbdAgent2")
    name.press("Enter")
    expect(dlg.locator(".modal-box")).to_have_count(0)
    sent = writes.take()
    assert len(sent) == 1 and sent[0].startswith("PUT ") and a["id"] in sent[0], sent
    assert api.get(f"/agents/{a['id']}").json()["name"] == "KbdAgent2"
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_a_flow_built_with_the_keyboard_alone(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                              api: httpx.Client) -> None:
    """Journey 5 without a mouse: in the flow dialog focus follows the steps. Enter on "+ Agent"
    lands on the new step's agent picker (it stayed on the button, and Tab walked away from the new
    step); moving a step keeps focus on its arrows; removing one moves focus to its neighbour (it
    fell to the page body). The flow saved is the one built."""
    b = api.post("/backends", json={"name": "Kbd flow fake", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    ids = {name: api.post("/agents", json={"name": name, "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()["id"]
           for name in ("Kbd Researcher", "Kbd Critic")}
    signed_in(page, server)
    nav(page, "flows")
    page.keyboard.press("n")
    dlg = page.get_by_test_id("flow-dialog")
    expect(dlg.get_by_label("Name").first).to_be_focused()
    page.keyboard.type("Kbd review")
    add_agent = dlg.locator(".add-row button", has_text="Agent").first
    _tab_to(page, add_agent)
    picker = dlg.get_by_label("Agent", exact=True)
    for n, name in enumerate(("Kbd Critic", "Kbd Researcher", "Kbd Critic")):
        page.keyboard.press("Enter")  # on "+ Agent" (the first time reached by Tab; then Shift+Tab back)
        expect(picker.nth(n)).to_be_focused()
        picker.nth(n).select_option(label=name)  # a <select>'s own keys; what matters is where focus is
        _tab_to(page, add_agent)
    # the third step was a slip: remove it from the keyboard; focus lands on the step before it
    _tab_to(page, dlg.get_by_label("Remove step").nth(2))
    page.keyboard.press("Enter")
    expect(picker).to_have_count(2)
    expect(picker.nth(1)).to_be_focused()
    # Researcher first: Move up on the second step, focus stays on that step's arrows (the root
    # sequence's own arrows, always disabled, come first: nth(0))
    _tab_to(page, dlg.get_by_label("Move up").nth(2))
    page.keyboard.press("Enter")
    expect(picker.nth(0)).to_have_value(ids["Kbd Researcher"])
    expect(dlg.get_by_label("Move down").nth(1)).to_be_focused()  # its Move up is disabled at the top
    _tab_to(page, dlg.get_by_role("button", name="Create"))
    page.keyboard.press("Enter")
    expect(dlg.locator(".modal-box")).to_have_count(0)
    flow = next(f for f in api.get("/flows").json() if f["name"] == "Kbd review")
    assert [s["agentId"] for s in flow["root"]["steps"]] == [ids["Kbd Researcher"], ids["Kbd Critic"]]
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
