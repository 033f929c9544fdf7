"""The Conversations page in real Chromium against a real ``magec serve``: the list and its
stats, search, a conversation as the user saw it and as the admin (with the tool call), CSV
export as a download, delete, the retention setting."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, signed_in

pytestmark = pytest.mark.ui


def test_browse_search_open_export_delete(
    page: Page, server: ServerProcess, fakes: dict[str, FakeServer], artifacts: object
) -> None:
    admin = httpx.Client(base_url=server.admin_url + "/api/v1/admin", timeout=30,
                         headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})
    user = httpx.Client(base_url=server.user_url, timeout=30)
    b = admin.post("/backends", json={"name": "Alpha", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    a = admin.post("/agents", json={"name": "Audited", "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()
    r = user.post("/api/v1/agent/run", json={"appName": a["id"], "userId": "carol", "sessionId": "ui-1",
                                             "newMessage": {"role": "user", "parts": [{"text": "What is the plan?"}]}})
    assert r.status_code == 200, r.text
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}]
    r = user.post("/v1/chat/completions", json={"model": a["id"], "tools": tools, "messages": [
        {"role": "user", "content": 'ORDER please call lookup_order {"id": 7}'}]})
    assert r.status_code == 200, r.text

    signed_in(page, server)
    nav(page, "conversations")
    listing = page.get_by_test_id("conversation-list")
    expect(listing.locator("tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("conversation-stats")).to_contain_text("Turns")
    page.get_by_test_id("filter-q").fill("order")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(listing.locator("tbody tr")).to_have_count(1)
    expect(listing).to_contain_text("lookup_order {")

    # as the user saw it: the question and the answer, no tool call
    listing.locator("tbody tr").first.click()
    detail = page.get_by_test_id("conversation-detail")
    expect(detail.get_by_test_id("user-message")).to_contain_text("ORDER please")
    expect(detail.get_by_test_id("tool-call")).to_have_count(0)
    # as the admin: the model's tool call, with its arguments, and the model that answered
    detail.get_by_text("Admin (steps, tools, models)").click()
    expect(detail.get_by_test_id("tool-call")).to_contain_text("lookup_order")
    expect(detail.get_by_test_id("user-message")).to_contain_text("alpha-chat")
    page.screenshot(path=str(artifacts) + "/conversations-admin-view.png")  # type: ignore[operator]
    detail.get_by_role("button", name="Back").click()

    page.get_by_test_id("filter-q").fill("")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(listing.locator("tbody tr")).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.startswith("conversationId,") and "What is the plan?" in text and "carol" in text

    row = listing.locator("tbody tr", has_text="What is the plan?")
    row.get_by_role("button", name="Delete conversation").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(listing.locator("tbody tr")).to_have_count(1)
    assert admin.get("/conversations", params={"perspective": "user"}).json()["total"] == 1

    # retention from the same page: saved into settings.conversations, the other settings kept
    before = admin.get("/settings").json()
    retention = page.get_by_test_id("retention")
    retention.locator("summary").click()
    retention.get_by_label("Retention days").fill("30")
    retention.get_by_role("button", name="Save").click()
    expect(page.locator(".toast", has_text="Retention saved")).to_be_visible()
    after = admin.get("/settings").json()
    assert after["conversations"] == {"enabled": True, "retentionDays": 30, "maxTurns": 0}
    assert {k: v for k, v in after.items() if k != "conversations"} == {
        k: v for k, v in before.items() if k != "conversations"}
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
