"""The MCP page shows each server's health and tests it: tools for a working stdio server, the
reason for a broken one; the agent using the broken one reads "degraded" with that reason."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .test_admin_ui import nav, shot, signed_in
from .test_pages_ui import admin

pytestmark = pytest.mark.ui

MCP_SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "mcp_server.py"


def test_mcp_cards_show_health_and_test_results(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                                artifacts: Path) -> None:
    api = admin(server)
    broken = api.post("/mcps", json={"name": "Broken", "type": "stdio", "command": "/nonexistent/bin"}).json()
    api.post("/mcps", json={"name": "Calc", "type": "stdio", "command": sys.executable, "args": [str(MCP_SCRIPT)]})
    b = api.post("/backends", json={"name": "Mcp LLM", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    api.post("/agents", json={"name": "Toolish", "llm": {"backend": b["id"], "model": "alpha-chat"},
                              "mcpServers": [broken["id"]]})
    signed_in(page, server)
    nav(page, "mcps")
    expect(page.get_by_test_id("mcp-health-Broken")).to_have_attribute("data-status", "unknown")
    expect(page.get_by_test_id("mcp-health-Broken")).to_contain_text("not checked yet")

    card = page.locator(".card.mcp", has_text="Broken")
    card.get_by_role("button", name="Test").click()
    report = page.get_by_test_id("mcp-test-Broken")
    expect(report).to_contain_text("Connection failed")
    expect(report).to_contain_text("/nonexistent/bin")
    expect(page.get_by_test_id("mcp-health-Broken")).to_have_attribute("data-status", "down")
    expect(page.get_by_test_id("mcp-health-error-Broken")).to_be_hidden()  # the report says it already

    calc = page.locator(".card.mcp", has_text="Calc")
    calc.get_by_role("button", name="Test").click()
    report = page.get_by_test_id("mcp-test-Calc")
    expect(report).to_contain_text("Connected", timeout=30_000)
    expect(report.locator("code.chip", has_text="add")).to_have_attribute("title", "Add two integers.")
    expect(page.get_by_test_id("mcp-health-Calc")).to_have_attribute("data-status", "up")
    shot(page, artifacts, "mcps-health")
    # a fresh page has no test report: the card's status still says what was observed
    page.reload()
    nav(page, "mcps")
    expect(page.get_by_test_id("mcp-health-Broken")).to_have_attribute("data-status", "down")
    expect(page.get_by_test_id("mcp-health-error-Broken")).to_contain_text("/nonexistent/bin")
    expect(page.get_by_test_id("mcp-health-Calc")).to_have_attribute("data-status", "up")

    # the agent's card names the unavailable server
    nav(page, "agents")
    health = page.get_by_test_id("agent-health-Toolish")
    expect(health).to_contain_text("degraded")
    expect(health).to_contain_text("MCP server 'Broken' is unavailable")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
