"""The Skills page of the Admin UI (real Chromium, a real ``magec serve``): create an inline skill
with a reference file, upload a SKILL.md package, pick a skill in the agent dialog, remove a
reference, delete a skill in use (409 list, then force) — each checked through the Admin API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess
from tests.skills.helpers import skill_md

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, shot, signed_in

pytestmark = pytest.mark.ui


def test_skills_page(page: Page, server: ServerProcess, fakes: dict[str, FakeServer], artifacts: Path) -> None:
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
    b = api.post("/backends", json={"name": "Alpha", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    agent = api.post("/agents", json={"name": "Support", "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()

    signed_in(page, server)
    nav(page, "skills")
    expect(page.get_by_text("No skills yet")).to_be_visible()

    # a new inline skill with a reference file attached before saving
    page.get_by_role("button", name="New skill").first.click()
    dlg = page.get_by_test_id("skill-dialog")
    dlg.get_by_label("Name").fill("Returns")
    dlg.get_by_label("Description").fill("Return policy")
    dlg.get_by_label("Instructions").fill("Refunds within 30 days.")
    dlg.get_by_test_id("skill-ref-input").set_input_files(
        files=[{"name": "policy.md", "mimeType": "text/markdown", "buffer": b"Software: no refunds."}])
    expect(dlg.get_by_test_id("skill-ref")).to_contain_text("policy.md")
    shot(page, artifacts, "skills-dialog")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    card = page.get_by_test_id("skill-card").filter(has_text="Returns")
    expect(card).to_contain_text("policy.md")
    skill = next(s for s in api.get("/skills").json() if s["name"] == "Returns")
    assert skill["instructions"] == "Refunds within 30 days."
    assert [(r["filename"], r["size"]) for r in skill["references"]] == [("policy.md", 21)]
    assert api.get(f"/skills/{skill['id']}/references/policy.md").content == b"Software: no refunds."

    # a SKILL.md package
    page.get_by_test_id("skill-upload-btn").click()
    up = page.get_by_test_id("skill-upload")
    up.get_by_label("Package").set_input_files(
        files=[{"name": "SKILL.md", "mimeType": "text/markdown", "buffer": skill_md(name="pdf-tricks")}])
    up.get_by_role("button", name="Upload").click()
    expect(up).to_be_hidden()
    expect(page.get_by_test_id("skill-card").filter(has_text="pdf-tricks")).to_contain_text("PKG")
    # the same name again is refused with the server's reason
    page.get_by_test_id("skill-upload-btn").click()
    up.get_by_label("Package").set_input_files(
        files=[{"name": "SKILL.md", "mimeType": "text/markdown", "buffer": skill_md(name="pdf-tricks")}])
    up.get_by_role("button", name="Upload").click()
    expect(up.get_by_role("alert")).to_contain_text("replace=true")
    up.get_by_role("button", name="Cancel").click()
    shot(page, artifacts, "skills")

    # the agent dialog picks skills
    nav(page, "agents")
    page.get_by_test_id("agent-Support").click()
    adlg = page.get_by_test_id("agent-dialog")
    section = adlg.get_by_test_id("agent-skills")
    section.locator("summary").click()
    section.get_by_role("button", name="Returns").click()
    adlg.get_by_role("button", name="Save").click()
    expect(adlg).to_be_hidden()
    assert api.get(f"/agents/{agent['id']}").json()["skills"] == [skill["id"]]

    # removing a reference in the dialog
    nav(page, "skills")
    card.click()
    dlg.get_by_test_id("skill-ref").get_by_role("button", name="Remove").click()
    expect(dlg.get_by_test_id("skill-ref")).to_have_count(0)
    assert api.get(f"/skills/{skill['id']}").json()["references"] == []
    dlg.get_by_role("button", name="Cancel").click()

    # deleting a skill in use lists the agent, then force removes it from the agent
    expect(card).to_contain_text("Support")
    card.get_by_role("button", name="Delete").click()
    confirm = page.get_by_test_id("confirm-delete")
    expect(confirm.get_by_test_id("reference-list")).to_contain_text("Agent Support uses it as a skill")
    confirm.get_by_role("button", name="Remove from it and delete").click()
    expect(card).to_have_count(0)
    assert api.get(f"/agents/{agent['id']}").json()["skills"] == []
    assert page.js_errors == []  # type: ignore[attr-defined]
