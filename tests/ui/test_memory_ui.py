"""The memory page in a real Chromium: the first long-term provider is put to use from its own
dialog (memory "On", an agent's memory works right after, over HTTP); the stored-memories count is
what is stored ("N of M" while filtered); a finished re-embed refreshes the table and leaves no
stale "done" bar beside "needs re-embedding"; a user id never breaks mid-word on a phone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import APIResponse, Page, Route, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, shot, signed_in

pytestmark = pytest.mark.ui


def admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.admin_url + "/api/v1/admin", timeout=60,
                        headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})


def memory_on(api: httpx.Client, fakes: dict[str, FakeServer], backend: str, provider: str,
              agent: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A backend on the alpha fake, a SQLite long-term provider embedding with it, put to use, and
    an agent on that backend: (backend, provider, agent) as the Admin API answered them."""
    emb = api.post("/backends", json={"name": backend, "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    mem = api.post("/memory", json={"name": provider, "type": "sqlite", "category": "longterm",
                                    "embedding": {"backend": emb["id"], "model": "alpha-embed"}}).json()
    api.put("/settings", json={**api.get("/settings").json(), "longTermProvider": mem["id"]}).raise_for_status()
    made = api.post("/agents", json={"name": agent, "llm": {"backend": emb["id"], "model": "alpha-chat"}}).json()
    return emb, mem, made


def say(api: httpx.Client, agent: str, user: str, session: str, text: str) -> list[dict[str, Any]]:
    """One turn through the admin playground's ADK ``/run`` (what the Playground page calls)."""
    r = api.post("/agent/run", json={"appName": agent, "userId": user, "sessionId": session,
                                     "newMessage": {"role": "user", "parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def tool_result(events: list[dict[str, Any]], name: str) -> Any:
    for e in events:
        for p in (e.get("content") or {}).get("parts", []):
            if "functionResponse" in p and p["functionResponse"]["name"] == name:
                return p["functionResponse"]["response"]
    raise AssertionError(f"no {name} result in {json.dumps(events)[:600]}")


def test_first_provider_is_put_to_use_from_its_dialog(page: Page, server: ServerProcess,
                                                      fakes: dict[str, FakeServer], artifacts: Path) -> None:
    api = admin(server)
    assert not api.get("/settings").json().get("longTermProvider")
    emb = api.post("/backends", json={"name": "Embedder", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    agent = api.post("/agents", json={"name": "Keeper", "llm": {"backend": emb["id"], "model": "alpha-chat"}}).json()
    # The page's first read of the settings is slow to arrive (a busy server, a slow network): it
    # lands only after the provider was put to use, with what the settings were when it was read.
    held: list[tuple[Route, APIResponse]] = []

    def hold_first_read(route: Route) -> None:
        if route.request.method == "GET" and not held:
            held.append((route, route.fetch()))
        else:
            route.fallback()

    page.route("**/api/v1/admin/settings", hold_first_read)
    signed_in(page, server)
    nav(page, "memory")
    state = page.get_by_test_id("memory-longterm-state")
    expect(state).to_have_text("Off")

    page.get_by_role("button", name="New provider").click()
    dlg = page.get_by_test_id("memory-dialog")
    dlg.get_by_label("Name").fill("Notes")
    dlg.locator("#m-emb-backend").select_option(label="Embedder")
    dlg.locator(".model-input input").fill("alpha-embed")
    use_now = dlg.get_by_test_id("use-now").locator("input")
    expect(use_now).to_be_checked()  # memory is off: the first provider turns it on
    expect(dlg.get_by_test_id("use-now")).to_contain_text("turn agent memory on")
    shot(page, artifacts, "memory-dialog-use-now", full=False)
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden(timeout=40_000)  # the save waits for the runtime to apply it (slow on a busy machine)
    expect(page.locator(".toast")).to_contain_text(["Long-term memory is on"])
    expect(state).to_have_text("On · Notes")
    route, stale = held[0]
    with page.expect_response(lambda r: r.url.endswith("/settings") and r.request.method == "GET"):
        route.fulfill(response=stale)  # the older read arrives now: it must not turn memory back "Off"
    expect(state).to_have_text("On · Notes")
    card = page.get_by_test_id("provider-Notes")
    expect(card.get_by_role("radio")).to_be_checked()
    notes = next(m for m in api.get("/memory").json() if m["name"] == "Notes")
    assert api.get("/settings").json()["longTermProvider"] == notes["id"]
    shot(page, artifacts, "memory-on-after-create")

    # The agent's memory works right away: it saves a fact, recalls it in a new session.
    saved = tool_result(say(api, agent["id"], "ada", "s1", 'call save_to_memory {"content": "Ada drinks green tea"}'),
                        "save_to_memory")
    assert "error" not in json.dumps(saved).lower(), saved
    found = tool_result(say(api, agent["id"], "ada", "s2", 'call search_memory {"query": "green tea"}'), "search_memory")
    assert "Ada drinks green tea" in json.dumps(found)
    entries = api.get("/memory/entries").json()
    assert entries["total"] == 1 and entries["items"][0]["content"] == "Ada drinks green tea"
    browser = page.get_by_test_id("memory-browser")
    browser.get_by_role("button", name="Search").click()
    expect(browser).to_contain_text("Ada drinks green tea")
    expect(browser.get_by_test_id("memory-count")).to_have_text("1")

    # A second long-term provider is not switched to unless asked (memory is already on).
    page.get_by_role("button", name="New provider").click()
    dlg.get_by_label("Name").fill("Spare")
    expect(dlg.get_by_test_id("use-now").locator("input")).not_to_be_checked()
    expect(dlg.get_by_test_id("use-now")).to_contain_text("switch agent memory")
    dlg.get_by_role("button", name="Cancel").click()
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_count_reembed_refresh_and_user_label(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                              artifacts: Path) -> None:
    api = admin(server)
    emb, mem, agent = memory_on(api, fakes, "Embedder 2", "Facts", "Scribe")
    for user, fact in [("admin", "The office opens at nine"), ("admin", "Parking is on level two"),
                       ("bob", "Bob prefers window seats")]:
        say(api, agent["id"], user, f"s-{user}-{fact[:3]}", f'call save_to_memory {{"content": "{fact}"}}')
    stored = api.get("/memory/entries").json()["total"]
    assert stored >= 3  # (and whatever an earlier test of this module stored)

    signed_in(page, server)
    nav(page, "memory")
    browser = page.get_by_test_id("memory-browser")
    count = browser.get_by_test_id("memory-count")
    expect(count).to_have_text(str(stored))
    browser.get_by_label("Search memories").fill("parking")
    browser.get_by_role("button", name="Search").click()
    hits = api.get("/memory/entries", params={"q": "parking"}).json()["total"]
    expect(count).to_have_text(f"{hits} of {stored}")
    browser.get_by_label("Search memories").fill("")
    browser.get_by_label("User").fill("admin")
    browser.get_by_role("button", name="Search").click()
    expect(count).to_have_text(f"2 of {stored}")
    browser.get_by_label("User").fill("")
    browser.get_by_role("button", name="Search").click()
    expect(count).to_have_text(str(stored))

    # Switch the embedding model: "needs re-embedding", no job bar; re-embed; the table shows the new model.
    api.put(f"/memory/{mem['id']}", json={**mem, "embedding": {"backend": emb["id"], "model": "alpha-embed-v2"}}
            ).raise_for_status()
    page.reload()
    card = page.get_by_test_id("provider-Facts")
    expect(card.get_by_test_id("reembed-needed")).to_contain_text(f"{stored} stored memories", timeout=15_000)
    expect(card.get_by_test_id("reembed-job")).to_have_count(0)
    expect(browser.locator("tbody tr")).to_have_count(stored)
    expect(browser).not_to_contain_text("alpha-embed-v2")
    card.get_by_role("button", name="Re-embed").click()
    job = card.get_by_test_id("reembed-job")
    expect(job).to_contain_text("done", timeout=30_000)
    expect(job).to_contain_text(f"{stored}/{stored}")
    expect(card.get_by_test_id("reembed-needed")).to_have_count(0)
    expect(browser.locator("tbody tr", has_text="alpha-embed-v2")).to_have_count(stored)  # refreshed, no reload
    shot(page, artifacts, "memory-reembedded")

    # The model changes again: the finished bar goes, only "needs re-embedding" remains.
    api.put(f"/memory/{mem['id']}", json={**mem, "embedding": {"backend": emb["id"], "model": "alpha-embed-v3"}}
            ).raise_for_status()
    page.reload()
    expect(card.get_by_test_id("reembed-needed")).to_contain_text(f"{stored} stored memories", timeout=15_000)
    expect(card.get_by_test_id("reembed-job")).to_have_count(0)

    # On a phone the user id "admin" stays on one line.
    page.set_viewport_size({"width": 390, "height": 844})
    user_cell = browser.locator("tbody tr", has_text="office opens").locator("td.user code")
    expect(user_cell).to_have_text("admin")
    lines = user_cell.evaluate("(el) => el.getClientRects().length")
    assert lines == 1, f"'admin' spans {lines} lines"
    browser.scroll_into_view_if_needed()
    shot(page, artifacts, "memory-phone-table", full=False)
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_a_client_users_memories_show_and_filter_by_user_id(page: Page, server: ServerProcess,
                                                            fakes: dict[str, FakeServer]) -> None:
    """A memory saved through a client (a phone, a family bot) is stored under the session owner
    ``<clientId>:<userId>``: the table showed that uuid-prefixed key, and typing the user id the
    Conversations page shows ("ada") found nothing. Now the row reads "ada" with the client's
    name, and the filter takes the client and the user id."""
    api = admin(server)
    _, _, agent = memory_on(api, fakes, "Embedder 3", "Home facts", "Home")
    kitchen = api.post("/clients", json={"name": "Kitchen", "type": "direct", "allowedAgents": [agent["id"]]}).json()
    r = httpx.post(server.user_url + "/api/v1/agent/run", timeout=60, headers={"Authorization": f"Bearer {kitchen['token']}"},
                   json={"appName": agent["id"], "userId": "ada", "sessionId": "k1", "newMessage": {
                       "role": "user", "parts": [{"text": 'call save_to_memory {"content": "Ada takes oat milk"}'}]}})
    assert r.status_code == 200, r.text
    garage = api.post("/clients", json={"name": "Garage", "type": "direct", "allowedAgents": [agent["id"]]}).json()
    r = httpx.post(server.user_url + "/api/v1/agent/run", timeout=60, headers={"Authorization": f"Bearer {garage['token']}"},
                   json={"appName": agent["id"], "userId": "ada", "sessionId": "g1", "newMessage": {
                       "role": "user", "parts": [{"text": 'call save_to_memory {"content": "Ada parks the van"}'}]}})
    assert r.status_code == 200, r.text
    stored = api.get("/memory/entries").json()["total"]

    signed_in(page, server)
    nav(page, "memory")
    browser = page.get_by_test_id("memory-browser")
    row = browser.locator("tbody tr", has_text="Ada takes oat milk")
    expect(row.get_by_test_id("memory-user")).to_have_text("ada")
    expect(row.get_by_test_id("memory-client-name")).to_have_text("Kitchen")
    # the client alone is all its users; the user id alone that user under any client; both, one
    milk, van = (browser.locator("tbody tr", has_text=t) for t in ("Ada takes oat milk", "Ada parks the van"))
    for client, user, shown in (("Kitchen", "", (1, 0)), ("All clients", "ada", (1, 1)), ("Garage", "ada", (0, 1))):
        browser.get_by_test_id("memory-client").select_option(label=client)
        browser.get_by_label("User").fill(user)
        browser.get_by_role("button", name="Search").click()
        expect(milk).to_have_count(shown[0])
        expect(van).to_have_count(shown[1])
    expect(browser.get_by_test_id("memory-count")).to_have_text(f"1 of {stored}")
    expect(browser.locator("tbody tr")).to_have_count(1)
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
