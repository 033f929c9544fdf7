"""Editing fallback chains in the Admin UI (real Chromium, a real ``magec serve``): add, order and
remove fallbacks of an agent's LLM and of a memory provider's embeddings; what is saved is what
the dialog showed, and reopening shows it again."""

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


def test_agent_and_memory_fallback_chains(
    page: Page, server: ServerProcess, fakes: dict[str, FakeServer], artifacts: Path
) -> None:
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})
    ids = {}
    for name, fake in (("Main", "alpha"), ("Spare", "beta"), ("Last", "alpha")):
        r = api.post("/backends", json={"name": name, "type": "openai", "url": fakes[fake].url + "/v1"})
        assert r.status_code in (200, 201), r.text
        ids[name] = r.json()["id"]

    signed_in(page, server)
    nav(page, "agents")
    page.get_by_role("button", name="New agent").first.click()
    dlg = page.get_by_test_id("agent-dialog")
    dlg.get_by_label("Name").first.fill("Chained")
    dlg.locator("#a-llm-backend").select_option(label="Main (openai)")
    dlg.locator("#a-llm-model").fill("alpha-chat")
    chain = dlg.get_by_test_id("llm-fallbacks")
    chain.get_by_role("button", name="Add fallback").click()
    chain.get_by_label("Fallback 1 backend").select_option(label="Spare (openai)")
    chain.get_by_test_id("llm-fallbacks-0").locator("input").first.fill("beta-chat")
    chain.get_by_role("button", name="Add fallback").click()
    chain.get_by_label("Fallback 2 backend").select_option(label="Last (openai)")
    chain.get_by_role("button", name="Move fallback 2 up").click()  # Last before Spare
    shot(page, artifacts, "agent-fallbacks", full=False)
    page.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()

    agent = next(a for a in api.get("/agents").json() if a["name"] == "Chained")
    assert agent["llm"]["fallbacks"] == [{"backend": ids["Last"], "model": ""}, {"backend": ids["Spare"], "model": "beta-chat"}]
    expect(page.get_by_test_id("agent-fallbacks-Chained")).to_contain_text("Last → Spare beta-chat")

    # reopen: the chain is shown as saved; remove the first, save, and only Spare is left
    page.get_by_test_id("agent-Chained").get_by_role("button", name="Edit").click()
    dlg = page.get_by_test_id("agent-dialog")
    expect(dlg.get_by_label("Fallback 1 backend")).to_have_value(ids["Last"])
    dlg.get_by_role("button", name="Remove fallback 1").click()
    page.get_by_role("button", name="Save").click()
    expect(dlg).to_be_hidden()
    agent = api.get(f"/agents/{agent['id']}").json()
    assert agent["llm"]["fallbacks"] == [{"backend": ids["Spare"], "model": "beta-chat"}]

    # a memory provider's embedding fallback
    nav(page, "memory")
    page.get_by_test_id("memory-longterm").get_by_role("button", name="Add").click()
    mdlg = page.get_by_test_id("memory-dialog")
    expect(mdlg).to_be_visible()
    mdlg.get_by_label("Name").fill("LT chained")
    mdlg.locator("#m-emb-backend").select_option(label="Main")
    mdlg.locator(".model-input input").first.fill("alpha-embed")
    mdlg.get_by_role("button", name="Add embedding fallback").click()
    mdlg.get_by_label("Fallback 1 backend").select_option(label="Last (openai)")
    mdlg.get_by_test_id("embedding-fallbacks-0").locator("input").first.fill("alpha-embed")
    page.get_by_role("button", name="Create").click()
    expect(mdlg).to_be_hidden()
    mem = next(m for m in api.get("/memory").json() if m["name"] == "LT chained")
    assert mem["embedding"]["fallbacks"] == [{"backend": ids["Last"], "model": "alpha-embed"}]
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
