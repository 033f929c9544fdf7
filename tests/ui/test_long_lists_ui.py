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
