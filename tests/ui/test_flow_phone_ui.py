"""The flow editor on a 390×844 phone in a real Chromium: build a tree flow (add steps, pick
agents, remove one, save) with every row's controls inside the viewport and usable; the graph
editor lays out as a list without horizontal overflow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD, _track_errors
from .test_admin_ui import shot, signed_in

pytestmark = pytest.mark.ui

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Any) -> Iterator[Page]:
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    yield _track_errors(ctx.new_page())  # type: ignore[misc]
    ctx.close()


def admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.admin_url + "/api/v1/admin", timeout=60,
                        headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})


def no_page_overflow(page: Page) -> None:
    sizes = page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]")
    assert sizes[0] <= sizes[2] and sizes[1] <= sizes[2], f"horizontal overflow: {sizes}"


def controls_inside(page: Page, rows: Locator) -> None:
    """Every visible control of every row lies inside the viewport, is not squeezed to nothing,
    and is not covered by something else at its centre (so a tap reaches it)."""
    problems = rows.evaluate_all("""(rows) => {
      const out = [];
      for (const row of rows) {
        for (const el of row.querySelectorAll('select, input, button')) {
          const r = el.getBoundingClientRect();
          if (!r.width && !r.height) continue;  // display: none
          const what = (el.getAttribute('aria-label') || el.textContent || el.tagName).trim();
          if (r.left < 0 || r.right > innerWidth + 0.5) out.push(`${what} outside the viewport (${r.left}..${r.right})`);
          if (el.tagName === 'SELECT' && el.getAttribute('aria-label') === 'Agent' && r.width < 140) out.push(`agent select only ${r.width}px wide`);
          if (el.tagName === 'BUTTON' && (r.width < 24 || r.height < 24)) out.push(`${what} is ${r.width}x${r.height}`);
          el.scrollIntoView({block: 'center'});
          const c = el.getBoundingClientRect();
          const hit = document.elementFromPoint(c.left + c.width / 2, c.top + c.height / 2);
          if (!hit || !(hit === el || el.contains(hit) || hit.contains(el) && el.tagName === 'INPUT' && hit.tagName === 'LABEL'))
            out.push(`${what} is covered by ${hit ? hit.tagName + '.' + hit.className : 'nothing'}`);
        }
      }
      return out;
    }""")
    assert not problems, problems


def test_build_a_tree_flow_on_a_phone(phone: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                      artifacts: Path) -> None:
    page = phone
    api = admin(server)
    b = api.post("/backends", json={"name": "Phone fake", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    ids = {name: api.post("/agents", json={"name": name, "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()["id"]
           for name in ("Researcher", "Fact checker with a rather long name", "Writer")}
    signed_in(page, server)
    page.goto(server.admin_url + "/#/flows")
    page.get_by_role("button", name="New flow").first.click()
    dlg = page.get_by_test_id("flow-dialog")
    dlg.get_by_label("Name").first.fill("Phone flow")
    tree = dlg.locator(".flow-tree > .fstep")
    top = tree.locator(":scope > .fstep-children > .add-row")
    top.get_by_role("button", name="Agent").click()
    top.get_by_role("button", name="Parallel").click()
    par = tree.locator(":scope > .fstep-children > .fs-parallel")
    par.locator(":scope > .fstep-children > .add-row").get_by_role("button", name="Agent").click()
    par.locator(":scope > .fstep-children > .add-row").get_by_role("button", name="Agent").click()
    top.get_by_role("button", name="Loop").click()
    loop = tree.locator(":scope > .fstep-children > .fs-loop")
    loop.locator(":scope > .fstep-children > .add-row").get_by_role("button", name="Agent").click()
    loop.get_by_role("combobox", name="Exit mode").select_option("expression")
    loop.get_by_label("CEL expression").fill("state.done == true")
    top.get_by_role("button", name="Agent").click()

    agents = dlg.locator("select[aria-label=Agent]")
    expect(agents).to_have_count(5)
    for i, name in enumerate(["Researcher", "Researcher", "Fact checker with a rather long name", "Writer", "Writer"]):
        agents.nth(i).select_option(label=name)
    rows = dlg.locator(".fstep-head, .loop-opts, .add-row")
    no_page_overflow(page)
    controls_inside(page, rows)
    # the selected agent's name is readable, not collapsed to an arrow
    assert agents.nth(2).evaluate("(el) => el.getBoundingClientRect().width") >= 200

    # remove the loop's agent, then the loop itself, then the second top-level agent is the response
    loop.locator(":scope > .fstep-children > .fstep").get_by_role("button", name="Remove step").click()
    expect(dlg.locator("select[aria-label=Agent]")).to_have_count(4)
    loop.locator(":scope > .fstep-head").get_by_role("button", name="Remove step").click()
    expect(dlg.locator(".fs-loop")).to_have_count(0)
    tree.locator(":scope > .fstep-children > .fs-agent").last.get_by_label("Response").check()
    no_page_overflow(page)
    controls_inside(page, rows)
    tree.scroll_into_view_if_needed()
    shot(page, artifacts, "flow-editor-phone", full=False)
    footer = dlg.get_by_role("button", name="Create")
    expect(footer).to_be_in_viewport()
    footer.click()
    expect(dlg).to_be_hidden()
    expect(page.get_by_test_id("flow-Phone flow")).to_contain_text("seq(Researcher, par(Researcher, Fact checker")
    no_page_overflow(page)

    saved = next(f for f in api.get("/flows").json() if f["name"] == "Phone flow")
    steps = saved["root"]["steps"]
    assert [s["type"] for s in steps] == ["agent", "parallel", "agent"]
    assert steps[0]["agentId"] == ids["Researcher"]
    assert [s["agentId"] for s in steps[1]["steps"]] == [ids["Researcher"], ids["Fact checker with a rather long name"]]
    assert steps[2]["agentId"] == ids["Writer"] and steps[2]["responseAgent"] is True
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_graph_editor_on_a_phone(phone: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                 artifacts: Path) -> None:
    page = phone
    api = admin(server)
    b = api.post("/backends", json={"name": "Graph phone", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    api.post("/agents", json={"name": "Triager", "llm": {"backend": b["id"], "model": "alpha-chat"}}).raise_for_status()
    signed_in(page, server)
    page.goto(server.admin_url + "/#/flows")
    page.get_by_role("button", name="New flow").first.click()
    dlg = page.get_by_test_id("flow-dialog")
    dlg.get_by_label("Name").first.fill("Graph on phone")
    dlg.get_by_label("Graph (routers, joins, map, code…)").check()
    editor = page.get_by_test_id("graph-editor")
    expect(editor.get_by_test_id("graph-list")).to_be_visible()  # phones get the list view
    for ntype in ("agent", "router", "template"):
        editor.get_by_label("Node type").select_option(ntype)
        editor.get_by_role("button", name="+ Add node").click()
    expect(editor.locator("[data-testid^=glist-]")).to_have_count(3)
    editor.get_by_test_id("glist-agent_1").get_by_label("Agent", exact=True).select_option(label="Triager")
    no_page_overflow(page)
    controls_inside(page, editor.locator(".gedit-bar, .gpanel"))
    shot(page, artifacts, "flow-graph-editor-phone", full=False)
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
