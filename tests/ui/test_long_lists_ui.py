"""Long lists in a real Chromium (journey 2 as a day-to-day user with 50 agents): the filter finds
agents by what their card shows — backend, model, #tag — and flows by their agents; a filter that
leaves nothing says so and offers to clear it (an empty grid under "Agents 50" read as if every
agent had gone)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, signed_in

pytestmark = pytest.mark.ui


def test_fifty_agents_filter_by_what_the_card_shows(page: Page, server: ServerProcess,
                                                   fakes: dict[str, FakeServer]) -> None:
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", timeout=60,
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})
    openai = api.post("/backends", json={"name": "OpenAI box", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    ollama = api.post("/backends", json={"name": "Ollama box", "type": "openai", "url": fakes["beta"].url + "/v1"}).json()
    ids = {}
    for i in range(50):
        on_ollama = i % 10 == 0  # 5 of 50
        llm = {"backend": ollama["id"], "model": "qwen3:8b"} if on_ollama else {"backend": openai["id"], "model": "gpt-4.1"}
        ids[i] = api.post("/agents", json={"name": f"Worker {i:02d}", "llm": llm,
                                           "tags": ["research"] if i in (7, 8) else []}).json()["id"]
    api.post("/flows", json={"name": "Night shift", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": ids[7]}, {"type": "agent", "agentId": ids[8]}]}}).raise_for_status()

    signed_in(page, server)
    nav(page, "agents")
    cards = page.locator("article.agent")
    expect(cards.filter(has_text="Worker")).to_have_count(50)
    box = page.get_by_label("Filter")
    box.fill("Ollama box")  # which agents run on the Ollama box?
    expect(cards).to_have_count(5)
    box.fill("qwen3")  # … on that model
    expect(cards).to_have_count(5)
    box.fill("#research")  # a tag, as the card shows it
    expect(cards).to_have_count(2)
    box.fill("nobody-by-this-name")
    expect(cards).to_have_count(0)
    note = page.get_by_test_id("no-match")
    expect(note).to_contain_text("No agents match “nobody-by-this-name”")
    note.get_by_role("button", name="Clear filter").click()
    expect(box).to_have_value("")
    expect(cards.filter(has_text="Worker")).to_have_count(50)
    expect(note).to_have_count(0)

    nav(page, "flows")
    page.get_by_label("Filter").fill("Worker 08")  # which flows use Worker 08?
    expect(page.get_by_test_id("flow-Night shift")).to_be_visible()
    page.get_by_label("Filter").fill("Worker 09")
    expect(page.get_by_test_id("flow-Night shift")).to_have_count(0)
    expect(page.get_by_test_id("no-match")).to_contain_text("No flows match")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_a_name_another_agent_or_flow_has_is_flagged_before_saving(page: Page, server: ServerProcess,
                                                                  fakes: dict[str, FakeServer]) -> None:
    """Clients call agents by name (appName, a webhook's agent, /v1 model); a second "Concierge"
    answered every one of them with a 400 asking for an id, and the dialog had saved it silently."""
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", timeout=60,
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})
    b = api.post("/backends", json={"name": "Names box", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    api.post("/agents", json={"name": "Concierge", "llm": {"backend": b["id"], "model": "alpha-chat"}}).raise_for_status()

    signed_in(page, server)
    nav(page, "agents")
    page.get_by_role("button", name="New agent").first.click()
    dlg = page.get_by_test_id("agent-dialog")
    name = dlg.get_by_label("Name").first
    name.fill("Concierge ")
    expect(dlg.get_by_test_id("name-clash")).to_contain_text("Another agent is already named “Concierge”")
    name.fill("Concierge 2")
    expect(dlg.get_by_test_id("name-clash")).to_have_count(0)
    dlg.get_by_role("button", name="Cancel").click()
    page.get_by_test_id("agent-Concierge").click()  # its own name is no clash
    expect(dlg.get_by_label("Name").first).to_have_value("Concierge")
    expect(dlg.get_by_test_id("name-clash")).to_have_count(0)
    dlg.get_by_role("button", name="Cancel").click()

    nav(page, "flows")
    page.get_by_role("button", name="New flow").first.click()
    flow = page.get_by_test_id("flow-dialog")
    flow.get_by_label("Name").first.fill("Concierge")
    expect(flow.get_by_test_id("name-clash")).to_contain_text("Another agent is already named “Concierge”")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def _admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.admin_url + "/api/v1/admin", timeout=60,
                        headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})


def test_cards_sort_by_name_or_recent_change_and_the_choice_is_kept(page: Page, server: ServerProcess,
                                                                    fakes: dict[str, FakeServer]) -> None:
    """50 agents in the order they were made is no order to find one in: the card lists sort by name
    (numbers in names read as numbers: 9 before 10) or by the most recent change, from the keyboard;
    the choice stays for the page (a reload, another visit); it works with the filter."""
    api = _admin(server)
    b = api.post("/backends", json={"name": "Sort box", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    llm = {"backend": b["id"], "model": "m"}
    made = {}
    for name in ("Sorted zeta", "Sorted Alpha", "Sorted item 10", "Sorted item 9"):
        r = api.post("/agents", json={"name": name, "llm": llm})
        assert r.status_code == 201, r.text
        made[name] = r.json()
        assert made[name]["updatedAt"].endswith("Z"), made[name]  # the Admin API says when it last changed
    # a later edit makes "Sorted item 10" the most recently changed
    r = api.put(f"/agents/{made['Sorted item 10']['id']}", json={**made["Sorted item 10"], "description": "edited"})
    assert r.status_code == 200, r.text
    assert r.json()["updatedAt"] > made["Sorted item 10"]["updatedAt"]

    signed_in(page, server)
    nav(page, "agents")
    page.get_by_label("Filter").fill("Sorted")
    cards = page.locator("article.agent .card-head h3")
    created = ["Sorted zeta", "Sorted Alpha", "Sorted item 10", "Sorted item 9"]
    expect(cards).to_have_text(created)  # the default: the order they were made
    sort = page.get_by_label("Sort")
    sort.focus()
    page.keyboard.press("ArrowDown")  # keyboard: the next order, by name
    expect(sort).to_have_value("name")
    expect(cards).to_have_text(["Sorted Alpha", "Sorted item 9", "Sorted item 10", "Sorted zeta"])
    page.keyboard.press("ArrowDown")
    expect(sort).to_have_value("recent")
    expect(cards.first).to_have_text("Sorted item 10")
    page.reload()
    page.get_by_label("Filter").fill("Sorted")
    expect(page.get_by_label("Sort")).to_have_value("recent")  # kept for the page
    expect(cards.first).to_have_text("Sorted item 10")
    # other card pages have it too, each with its own choice
    nav(page, "backends")
    expect(page.get_by_label("Sort")).to_have_value("")
    page.get_by_label("Sort").select_option("name")
    names = page.locator("article .card-head h3").all_inner_texts()
    assert names == sorted(names, key=str.casefold), names
    nav(page, "agents")
    expect(page.get_by_label("Sort")).to_have_value("recent")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_the_allowed_agents_picker_has_a_search_usable_from_the_keyboard(page: Page, server: ServerProcess,
                                                                        fakes: dict[str, FakeServer]) -> None:
    """A client allowed one agent among 50+: the picker's chips filled the dialog, found by eye. A
    search box filters them; Enter picks the first match, Escape clears the search without closing
    the dialog, Down reaches the chips; what is picked but hidden by the search stays counted."""
    api = _admin(server)
    b = api.post("/backends", json={"name": "Pick box", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    ids = {}
    for i in range(12):
        ids[i] = api.post("/agents", json={"name": f"Picker {i:02d}", "llm": {"backend": b["id"], "model": "m"}}).json()["id"]
    signed_in(page, server)
    nav(page, "clients")
    page.get_by_role("button", name="New client").first.click()
    dlg = page.get_by_test_id("client-dialog")
    dlg.get_by_label("Name").first.fill("Only one agent")
    search = dlg.get_by_label("Search agents and flows")
    chips = dlg.locator(".tchip")
    search.fill("picker 07")
    expect(chips).to_have_text(["Picker 07"])
    search.press("Enter")  # the one match is picked
    expect(dlg.get_by_role("button", name="Picker 07")).to_have_attribute("aria-pressed", "true")
    expect(dlg.get_by_test_id("chips-count")).to_contain_text("1 picked")
    search.press("Escape")  # clears the search; the dialog stays open
    expect(search).to_have_value("")
    expect(dlg).to_be_visible()
    expect(dlg.get_by_test_id("discard-changes")).to_have_count(0)
    search.fill("picker 1")
    expect(chips).to_have_text(["Picker 10", "Picker 11"])
    expect(dlg.get_by_test_id("chips-count")).to_contain_text("1 picked, 1 not shown")
    search.press("ArrowDown")  # to the chips
    expect(dlg.get_by_role("button", name="Picker 10")).to_be_focused()
    search.fill("nobody by this name")
    expect(dlg.get_by_test_id("chips-no-match")).to_contain_text("Nothing matches")
    search.fill("")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    c = next(x for x in api.get("/clients").json() if x["name"] == "Only one agent")
    assert c["allowedAgents"] == [ids[7]]
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_clients_sort_by_recently_changed(page: Page, server: ServerProcess) -> None:
    """The Clients page's "Recently changed" sort: its list (the clients route of its own, with the
    live status) said no updatedAt, so the sort fell back to the names."""
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", timeout=60,
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})
    made = [api.post("/clients", json={"name": f"Sorted {n}"}).json() for n in ("one", "two", "three")]
    two = api.get(f"/clients/{made[1]['id']}").json()
    api.put(f"/clients/{two['id']}", json={**two, "enabled": False}).raise_for_status()  # changed last

    signed_in(page, server)
    nav(page, "clients")
    page.get_by_label("Filter").fill("Sorted ")
    cards = page.locator("article.client")
    expect(cards).to_have_count(3)
    page.get_by_test_id("sort").select_option("recent")
    for i, name in enumerate(("two", "three", "one")):
        expect(cards.nth(i)).to_have_attribute("data-testid", f"client-Sorted {name}")
    page.get_by_test_id("sort").select_option("name")
    for i, name in enumerate(("one", "three", "two")):
        expect(cards.nth(i)).to_have_attribute("data-testid", f"client-Sorted {name}")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
