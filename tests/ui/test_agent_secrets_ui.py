"""Per-agent secrets in the Admin UI's agent dialog (real Chromium, a real ``magec serve``): pick
the secrets an agent's tool calls may use, or allow every secret; what is saved is what the dialog
showed, and reopening shows it again."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, shot, signed_in

pytestmark = pytest.mark.ui


def new_agent(page: Page, name: str) -> tuple[Locator, Locator]:
    """The agent dialog opened for a new agent ``name`` on the test backend: (dialog, secrets section)."""
    page.get_by_role("button", name="New agent").first.click()
    dlg = page.get_by_test_id("agent-dialog")
    dlg.get_by_label("Name").first.fill(name)
    dlg.locator("#a-llm-backend").select_option(label="Keys LLM (openai)")
    dlg.locator("#a-llm-model").fill("alpha-chat")
    section = dlg.get_by_test_id("agent-secrets")
    section.locator("summary").click()
    return dlg, section


def test_agent_secrets_picker(page: Page, server: ServerProcess, fakes: dict[str, FakeServer], artifacts: Path) -> None:
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})
    for key in ("GITHUB_TOKEN", "DEPLOY_KEY"):
        r = api.post("/secrets", json={"name": key.title(), "key": key, "value": f"v-{key}"})
        assert r.status_code in (200, 201), r.text
    r = api.post("/backends", json={"name": "Keys LLM", "type": "openai", "url": fakes["alpha"].url + "/v1"})
    assert r.status_code in (200, 201), r.text

    signed_in(page, server)
    nav(page, "agents")
    dlg, section = new_agent(page, "Keyholder")
    section.get_by_role("button", name="GITHUB_TOKEN").click()
    expect(section.get_by_role("button", name="GITHUB_TOKEN")).to_have_attribute("aria-pressed", "true")
    # bound to the tools that need it (secretTools)
    section.get_by_label("GITHUB_TOKEN: only for tools").fill("github_api, git_push")
    section.get_by_label("GITHUB_TOKEN: only for tools").blur()
    shot(page, artifacts, "agent-secrets", full=False)
    page.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    agent = next(a for a in api.get("/agents").json() if a["name"] == "Keyholder")
    assert agent["secrets"] == ["GITHUB_TOKEN"] and agent["allowAllSecrets"] is False
    assert agent["secretTools"] == {"GITHUB_TOKEN": ["github_api", "git_push"]}

    # reopen: shown as saved; allow every secret instead
    page.get_by_test_id("agent-Keyholder").get_by_role("button", name="Edit").click()
    dlg = page.get_by_test_id("agent-dialog")
    section = dlg.get_by_test_id("agent-secrets")
    expect(section.get_by_role("button", name="GITHUB_TOKEN")).to_have_attribute("aria-pressed", "true")
    expect(section.get_by_role("button", name="DEPLOY_KEY")).to_have_attribute("aria-pressed", "false")
    expect(section.get_by_label("GITHUB_TOKEN: only for tools")).to_have_value("github_api, git_push")
    section.get_by_text("Allow every secret").click()
    expect(section.get_by_role("button", name="DEPLOY_KEY")).to_be_hidden()
    page.get_by_role("button", name="Save").click()
    expect(dlg).to_be_hidden()
    agent = api.get(f"/agents/{agent['id']}").json()
    assert agent["allowAllSecrets"] is True


def test_tools_typed_for_a_secret_survive_a_list_arriving_late(page: Page, server: ServerProcess,
                                                               fakes: dict[str, FakeServer]) -> None:
    """A list the dialog reloads as it opens (the secrets) may arrive while the user is typing in an
    "only for tools" field, over a slow network: what was typed stays and is saved (the re-render
    set the field back to the saved value before its change event, and the tools were lost)."""
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})
    r = api.post("/secrets", json={"name": "Slow Token", "key": "SLOW_TOKEN", "value": "v-slow"})
    assert r.status_code in (200, 201), r.text
    if not any(b["name"] == "Keys LLM" for b in api.get("/backends").json()):
        api.post("/backends", json={"name": "Keys LLM", "type": "openai", "url": fakes["alpha"].url + "/v1"})
    signed_in(page, server)
    nav(page, "agents")
    page.get_by_role("button", name="New agent").first.click()  # the secrets are listed once
    dlg = page.get_by_test_id("agent-dialog")
    expect(dlg.get_by_test_id("agent-secrets")).to_be_attached()
    dlg.get_by_role("button", name="Cancel").click()
    expect(dlg).to_be_hidden()

    held: list[object] = []  # the next read of the secrets waits until the field is typed in
    page.route("**/api/v1/admin/secrets", lambda route: held.append(route))
    dlg, section = new_agent(page, "Typist")
    section.get_by_role("button", name="SLOW_TOKEN").click()
    field = section.get_by_label("SLOW_TOKEN: only for tools")
    field.fill("slow_tool")  # typed, not yet left
    assert held, "the dialog re-read the secrets as it opened"
    # meanwhile another secret was added: the list that arrives now has it, and the dialog
    # re-renders to show it
    r = api.post("/secrets", json={"name": "Late Key", "key": "LATE_KEY", "value": "v-late"})
    assert r.status_code in (200, 201), r.text
    for route in held:
        route.continue_()  # type: ignore[attr-defined]
    page.unroute("**/api/v1/admin/secrets")
    expect(section.get_by_role("button", name="LATE_KEY")).to_be_visible()
    expect(field).to_have_value("slow_tool")
    field.blur()
    page.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    agent = next(a for a in api.get("/agents").json() if a["name"] == "Typist")
    assert agent["secretTools"] == {"SLOW_TOKEN": ["slow_tool"]}
