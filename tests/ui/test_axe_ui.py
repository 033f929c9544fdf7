"""axe-core accessibility pass of the Admin UI in Chromium: every page of the sidebar (with data on
it) and the main dialogs open, no serious or critical violation.

axe-core comes from the project's own files (tests/compat/node/package.json, installed by
``npm ci`` in scripts/test.sh); nothing is fetched at test time.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .test_admin_ui import nav, signed_in
from .test_contrast_ui import PAGES, admin_api, seed  # noqa: F401 - admin_api is a fixture

pytestmark = pytest.mark.ui

AXE = Path(__file__).resolve().parents[1] / "compat" / "node" / "node_modules" / "axe-core" / "axe.min.js"

#: (page, button that opens it, dialog test id)
DIALOGS = [
    ("agents", "New agent", "agent-dialog"), ("backends", "New backend", "backend-dialog"),
    ("flows", "New flow", "flow-dialog"), ("memory", "New provider", "memory-dialog"),
    ("mcps", "New MCP server", "mcp-dialog"), ("commands", "New command", "command-dialog"),
    ("clients", "New client", "client-dialog"), ("secrets", "New secret", "secret-dialog"),
    ("skills", "New skill", "skill-dialog"),
]


def axe_path() -> Path:
    if not AXE.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed: axe-core (tests/compat/node) cannot be installed")
        pytest.fail(f"{AXE} missing: run `npm ci` in tests/compat/node (scripts/test.sh does)")
    return AXE


def audit(page: Page, label: str) -> list[str]:
    if not page.evaluate("typeof window.axe === 'object'"):
        # evaluated by the driver, not as an inline <script>: the UI's CSP rightly forbids those
        page.evaluate(axe_path().read_text() + "\n;void 0")
    res: dict[str, Any] = page.evaluate("""async () => {
        const r = await axe.run(document, { resultTypes: ['violations'] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
          nodes: v.nodes.slice(0, 6).map((n) => n.target.join(' ') + ' :: ' + (n.failureSummary || '').split('\\n').slice(1, 2).join(' ')) }));
    }""")
    return [f"{label}: [{v['impact']}] {v['id']} — {v['help']}\n      " + "\n      ".join(v["nodes"])
            for v in res if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_every_page_and_dialog(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                   admin_api: httpx.Client, scheme: str) -> None:  # noqa: F811
    axe_path()
    seed(admin_api, fakes, f"A{scheme[0]}")
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    signed_in(page, server)
    found: list[str] = []
    for pid in PAGES:
        nav(page, pid)
        expect(page.locator(".skeleton")).to_have_count(0)
        found += audit(page, pid)
    for pid, button, testid in DIALOGS:
        nav(page, pid)
        page.get_by_role("button", name=button).first.click()
        box = page.get_by_test_id(testid).locator(".modal-box")
        expect(box).to_be_visible()
        found += audit(page, testid)
        if testid == "agent-dialog":  # composite fields are named by their visible captions
            dlg = page.get_by_test_id(testid)
            expect(dlg.get_by_label("Tags")).to_have_attribute("placeholder", "tag + Enter")
            expect(dlg.get_by_role("textbox", name="System prompt")).to_be_visible()
        page.keyboard.press("Escape")
        expect(box).to_have_count(0)
    # the search palette and the delete confirmation
    page.keyboard.press("Control+k")
    expect(page.get_by_test_id("search-palette").locator(".modal-box")).to_be_visible()
    found += audit(page, "search-palette")
    page.keyboard.press("Escape")
    nav(page, "agents")
    page.locator("article.card.entity").first.get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("confirm-delete").locator(".modal-box")).to_be_visible()
    found += audit(page, "confirm-delete")
    page.keyboard.press("Escape")
    assert not found, f"{len(found)} serious/critical axe violations:\n" + "\n".join(found)


def test_axe_finds_what_it_should(page: Page, server: ServerProcess) -> None:
    """The pass is not a rubber stamp: an unlabelled input is a critical violation."""
    signed_in(page, server)
    page.evaluate("() => { const i = document.createElement('input'); i.id = 'axe-probe'; document.querySelector('main').appendChild(i); }")
    found = audit(page, "probe")
    assert any("label" in f and "axe-probe" in f for f in found), found
