"""The flows page in a real Chromium: a flow the runtime cannot build shows "invalid" and why (in
words), on its card and in its dialog, and turns "ready" without a reload once its agent is fixed;
a save error names the step in words ("Step 2: agent is required") and highlights it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, shot, signed_in

pytestmark = pytest.mark.ui


def admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.admin_url + "/api/v1/admin", timeout=60,
                        headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})


def test_invalid_flow_and_errors_in_words(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                          artifacts: Path) -> None:
    api = admin(server)
    b = api.post("/backends", json={"name": "Flows fake", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    good = api.post("/agents", json={"name": "Good", "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()
    brainless = api.post("/agents", json={"name": "Brainless"}).json()
    api.post("/flows", json={"name": "Broken", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": good["id"]}, {"type": "agent", "agentId": brainless["id"]}]}}).raise_for_status()
    api.post("/flows", json={"name": "Fine", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": good["id"]}]}}).raise_for_status()

    signed_in(page, server)
    nav(page, "flows")
    expect(page.get_by_test_id("flow-status-Broken")).to_have_text("invalid")
    reason = page.get_by_test_id("flow-reason-Broken")
    expect(reason).to_have_text("Step 2: agent 'Brainless': LLM backend not configured")
    expect(page.get_by_test_id("flow-status-Fine")).to_have_text("ready")
    expect(page.get_by_test_id("flow-reason-Fine")).to_have_count(0)
    shot(page, artifacts, "flows-invalid")
    page.get_by_test_id("flow-Broken").get_by_role("button", name="Edit").click()
    dlg = page.get_by_test_id("flow-dialog")
    expect(dlg.get_by_test_id("flow-invalid")).to_contain_text("Step 2: agent 'Brainless': LLM backend not configured")
    dlg.get_by_role("button", name="Cancel").click()

    # The agent gets a backend: the card turns ready without a reload.
    api.put(f"/agents/{brainless['id']}", json={**brainless, "llm": {"backend": b["id"], "model": "alpha-chat"}}
            ).raise_for_status()
    expect(page.get_by_test_id("flow-status-Broken")).to_have_text("ready", timeout=30_000)
    expect(page.get_by_test_id("flow-reason-Broken")).to_have_count(0)

    # A save error in words, at the step.
    page.get_by_role("button", name="New flow").first.click()
    dlg.get_by_label("Name").first.fill("Wordy")
    tree = dlg.locator(".flow-tree > .fstep")
    top = tree.locator(":scope > .fstep-children > .add-row")
    top.get_by_role("button", name="Agent").click()
    top.get_by_role("button", name="Agent").click()
    dlg.locator("select[aria-label=Agent]").first.select_option(label="Good")
    dlg.get_by_role("button", name="Create").click()
    error = dlg.get_by_test_id("flow-error")
    expect(error).to_have_text("Step 2: agent is required")
    expect(dlg.locator(".fstep.error")).to_have_count(1)
    expect(dlg.locator(".fstep.error")).to_have_attribute("data-path", "root.steps[1]")
    shot(page, artifacts, "flow-error-in-words", full=False)
    # A loop whose exit condition is left empty: the field's words, not exit.expression.
    dlg.locator(".fstep.error").get_by_role("button", name="Remove step").click()
    top.get_by_role("button", name="Loop").click()
    loop = tree.locator(":scope > .fstep-children > .fs-loop")
    loop.locator(":scope > .fstep-children > .add-row").get_by_role("button", name="Agent").click()
    loop.locator("select[aria-label=Agent]").select_option(label="Good")
    loop.get_by_role("combobox", name="Exit mode").select_option("expression")
    dlg.get_by_role("button", name="Create").click()
    expect(error).to_have_text("Step 2, exit condition: an expression is required when the exit mode is expression")
    expect(dlg.locator(".fstep.error")).to_have_attribute("data-path", "root.steps[1]")
    loop.get_by_label("CEL expression").fill("state.done == true")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden(timeout=40_000)
    expect(page.get_by_test_id("flow-status-Wordy")).to_have_text("ready", timeout=30_000)
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_deleting_a_flow_step_agent_says_stops_working_only_when_it_does(
        page: Page, server: ServerProcess, fakes: dict[str, FakeServer]) -> None:
    """Journey 5, undoing a mistake: the delete dialog of an agent a flow uses. A flow with other
    agents left runs on without it (no "stops working" — it said so, and the user kept the agent);
    a flow whose only agent it is does stop, and says so."""
    api = admin(server)
    b = api.post("/backends", json={"name": "Steps fake", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    llm = {"backend": b["id"], "model": "alpha-chat"}
    a, c, solo = (api.post("/agents", json={"name": n, "llm": llm}).json() for n in ("Drafter", "Checker", "Loner"))
    api.post("/flows", json={"name": "Pair review", "root": {"type": "sequential", "steps": [
        {"type": "parallel", "steps": [{"type": "agent", "agentId": a["id"]}, {"type": "agent", "agentId": c["id"]}]},
    ]}}).raise_for_status()
    api.post("/flows", json={"name": "Solo", "root": {"type": "parallel", "steps": [
        {"type": "agent", "agentId": solo["id"]}]}}).raise_for_status()

    signed_in(page, server)
    nav(page, "agents")
    page.get_by_test_id("agent-Drafter").get_by_role("button", name="Delete").click()
    confirm = page.get_by_test_id("confirm-delete")
    expect(confirm.get_by_test_id("reference-list")).to_contain_text("Flow Pair review uses it as a step")
    expect(confirm).not_to_contain_text("stops working")
    expect(confirm).not_to_contain_text("will stop working")
    confirm.get_by_role("button", name="Remove from it and delete").click()
    expect(page.get_by_test_id("agent-Drafter")).to_have_count(0)
    nav(page, "flows")
    expect(page.get_by_test_id("flow-status-Pair review")).to_have_text("ready")  # as the dialog said

    nav(page, "agents")
    page.get_by_test_id("agent-Loner").get_by_role("button", name="Delete").click()
    expect(confirm.get_by_test_id("reference-list")).to_contain_text("stops working")
    expect(confirm).to_contain_text("Flow Solo will stop working until you pick a replacement")
    confirm.get_by_role("button", name="Cancel").click()
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
