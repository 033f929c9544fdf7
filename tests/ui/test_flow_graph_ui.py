"""Graph flow editor in a real Chromium: build a router flow on the canvas (add nodes, per-node
forms, connect ports, drag a node), see a server error at its node, save, check the saved JSON,
reopen the same graph, run it in the playground (the billing branch answers), set the code-node
limits in Settings and read the graph on a phone."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import chat, nav, shot, signed_in

pytestmark = pytest.mark.ui


def admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.admin_url + "/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})


def add_node(page: Page, ntype: str, node_id: str) -> None:
    editor = page.get_by_test_id("graph-editor")
    editor.get_by_label("Node type").select_option(ntype)
    editor.get_by_role("button", name="+ Add node").click()
    panel = page.get_by_test_id("node-panel")
    panel.get_by_label("Node id").fill(node_id)
    panel.get_by_label("Node id").press("Tab")
    expect(page.get_by_test_id(f"gnode-{node_id}")).to_be_visible()


def pick_agent(page: Page, name: str) -> None:
    sel = page.get_by_test_id("node-panel").get_by_label("Agent", exact=True)
    sel.select_option(label=name)


def connect(page: Page, src: str, dst: str) -> None:
    page.get_by_test_id(f"gnode-{src}").get_by_role("button", name=f"Connect from {src}").click()
    page.get_by_test_id(f"gnode-{dst}").click()
    expect(page.get_by_test_id(f"edge-{src}-{dst}")).to_have_count(1)


def test_build_save_reopen_and_run_a_router_flow(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                                 artifacts: Path) -> None:
    api = admin(server)
    b = api.post("/backends", json={"name": "Graph fake", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    ids = {name: api.post("/agents", json={"name": name, "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()["id"]
           for name in ("Classifier", "Billing", "General")}
    signed_in(page, server)
    nav(page, "flows")
    page.get_by_role("button", name="New flow").first.click()
    dlg = page.get_by_test_id("flow-dialog")
    dlg.get_by_label("Name").first.fill("Triage")
    dlg.get_by_label("Graph (routers, joins, map, code…)").check()
    add_node(page, "agent", "classify")
    pick_agent(page, "Classifier")
    add_node(page, "router", "route")
    panel = page.get_by_test_id("node-panel")
    panel.get_by_label("Rule 1 condition").fill('input.contains("invoice")')
    panel.get_by_label("Rule 1 route").fill("billing")
    add_node(page, "agent", "billing")  # its agent is left empty on purpose: the server names the field
    panel.get_by_label("Response").check()
    add_node(page, "agent", "general")
    pick_agent(page, "General")
    panel.get_by_label("Response").check()
    connect(page, "classify", "route")
    connect(page, "route", "billing")
    connect(page, "route", "general")
    # drag "general" 120 px down (positions snap to 10 px)
    node = page.get_by_test_id("gnode-general")
    before = node.bounding_box()
    assert before is not None
    page.mouse.move(before["x"] + 40, before["y"] + 20)
    page.mouse.down()
    page.mouse.move(before["x"] + 40, before["y"] + 80, steps=5)
    page.mouse.move(before["x"] + 40, before["y"] + 140, steps=5)
    page.mouse.up()
    after = node.bounding_box()
    assert after is not None and 110 <= after["y"] - before["y"] <= 130
    # save: the missing agent is reported at its node
    dlg.get_by_role("button", name="Create").click()
    expect(dlg.get_by_test_id("flow-error")).to_have_text('Node "billing": agent is required')
    expect(page.locator(".gnode.error")).to_have_count(1)
    expect(page.locator(".gnode.error")).to_have_attribute("data-testid", "gnode-billing")
    expect(page.get_by_test_id("node-panel").get_by_test_id("node-error")).to_contain_text("agent is required")
    pick_agent(page, "Billing")
    shot(page, artifacts, "flow-graph-editor", full=False)
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    card = page.get_by_test_id("flow-Triage")
    expect(card).to_contain_text("graph(Classifier, route, Billing★, General★)")

    saved = next(f for f in api.get("/flows").json() if f["name"] == "Triage")
    assert "root" not in saved and saved["entry"] == "classify"
    assert [(n["id"], n["type"]) for n in saved["nodes"]] == [
        ("classify", "agent"), ("route", "router"), ("billing", "agent"), ("general", "agent")]
    by_id = {n["id"]: n for n in saved["nodes"]}
    assert by_id["classify"]["agentId"] == ids["Classifier"] and by_id["billing"]["agentId"] == ids["Billing"]
    assert by_id["billing"]["responseAgent"] and by_id["general"]["responseAgent"]
    assert by_id["route"]["rules"] == [{"when": 'input.contains("invoice")', "route": "billing"}]
    assert saved["edges"] == [{"from": "classify", "to": "route"},
                              {"from": "route", "to": "billing", "route": "billing"},
                              {"from": "route", "to": "general", "route": "otherwise"}]
    assert all(isinstance(n["x"], (int, float)) and isinstance(n["y"], (int, float)) for n in saved["nodes"])
    assert by_id["general"]["y"] - by_id["billing"]["y"] == 120  # the drag was saved
    assert "startX" in saved and "startY" in saved

    # reopening shows the same graph at the same places
    card.click()
    dlg = page.get_by_test_id("flow-dialog")
    for n in saved["nodes"]:
        box = page.get_by_test_id(f"gnode-{n['id']}")
        expect(box).to_have_css("left", f"{n['x']:g}px")
        expect(box).to_have_css("top", f"{n['y']:g}px")
    expect(page.locator("[data-testid^=edge-]")).to_have_count(3)
    page.keyboard.press("Escape")
    expect(dlg).to_be_hidden()

    # run it: the classifier echoes the question, the router sends "invoice" questions to Billing
    card.get_by_role("button", name="Run").click()
    chat(page, "invoice is wrong")
    log = page.get_by_test_id("pg-log")
    answer = log.locator(".msg.agent").last
    expect(answer.locator(".author")).to_contain_text("Billing", timeout=30_000)
    expect(answer.locator(".author")).to_contain_text("response")
    expect(log).not_to_contain_text("General")
    shot(page, artifacts, "flow-graph-playground")

    # the global code-node limits are edited in Settings
    nav(page, "settings")
    limits = page.get_by_test_id("flow-settings")
    limits.get_by_label("Code timeout (ms)").fill("2500")
    limits.get_by_label("Disabled Starlark libraries").fill("print, json")
    limits.get_by_label("Disabled Starlark libraries").press("Tab")
    limits.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved")).to_be_visible()
    flows_settings = api.get("/settings").json()["flows"]
    assert flows_settings["executionTimeoutMs"] == 2500 and flows_settings["disabledLibraries"] == ["print", "json"]

    # a phone reads and edits the graph as a list
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(server.admin_url + "/#/flows")  # the side nav is off-screen on a phone
    page.get_by_test_id("flow-Triage").click()
    lst = page.get_by_test_id("graph-list")
    expect(lst).to_be_visible()
    expect(lst.locator("[data-testid^=glist-]")).to_have_count(4)
    expect(page.get_by_test_id("glist-route").get_by_label("Rule 1 condition")).to_have_value('input.contains("invoice")')
    shot(page, artifacts, "flow-graph-phone")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_node_id_typed_survives_the_flows_list_arriving(page: Page, server: ServerProcess,
                                                        fakes: dict[str, FakeServer]) -> None:
    """The flows page re-reads the flows every few seconds; a read that lands while the user is
    typing a node's id re-renders the node's form (a subflow node lists the flows): what was typed
    stays, and is the node's id once the field is left (the field was bound to the saved id and set
    back to it by the re-render, so the rename was lost). An id another node has is refused in words
    and what was typed is kept."""
    api = admin(server)
    b = api.post("/backends", json={"name": "Id fake", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    agent = api.post("/agents", json={"name": "Inner agent", "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()
    api.post("/flows", json={"name": "Inner", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": agent["id"], "responseAgent": True}]}}).raise_for_status()
    signed_in(page, server)
    nav(page, "flows")
    expect(page.get_by_test_id("flow-Inner")).to_be_visible()
    page.get_by_role("button", name="New flow").first.click()
    dlg = page.get_by_test_id("flow-dialog")
    dlg.get_by_label("Name").first.fill("Outer")
    dlg.get_by_label("Graph (routers, joins, map, code…)").check()
    add_node(page, "agent", "first")
    editor = page.get_by_test_id("graph-editor")
    editor.get_by_label("Node type").select_option("subflow")
    editor.get_by_role("button", name="+ Add node").click()
    panel = page.get_by_test_id("node-panel")
    panel.get_by_label("Flow", exact=True).select_option(label="Inner")

    held: list[object] = []  # the page's next read of the flows waits until the id is typed
    page.route("**/api/v1/admin/flows", lambda route: held.append(route) if route.request.method == "GET"
               else route.continue_())
    field = panel.get_by_label("Node id")
    field.fill("call_inner")  # typed, not yet left
    deadline = time.monotonic() + 15
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert held, "the flows page re-reads the flows while it is open"
    # meanwhile another flow was added: the list that arrives has it, and the node's form shows it
    api.post("/flows", json={"name": "Late flow", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": agent["id"], "responseAgent": True}]}}).raise_for_status()
    for route in held:
        route.continue_()  # type: ignore[attr-defined]
    page.unroute("**/api/v1/admin/flows")
    expect(panel.get_by_label("Flow", exact=True).locator("option", has_text="Late flow")).to_be_attached()
    expect(field).to_have_value("call_inner")
    field.press("Tab")
    expect(page.get_by_test_id("gnode-call_inner")).to_be_visible()

    # another node's id is refused in words; what was typed stays
    field = page.get_by_test_id("node-panel").get_by_label("Node id")
    field.fill("first")
    field.press("Tab")
    expect(page.get_by_test_id("node-panel").get_by_test_id("node-id-error")).to_have_text(
        "Another node is already called “first”.")
    expect(field).to_have_value("first")
    expect(page.get_by_test_id("gnode-call_inner")).to_be_visible()
    field.fill("call_inner")
    expect(page.get_by_test_id("node-panel").get_by_test_id("node-id-error")).to_have_count(0)

    connect(page, "first", "call_inner")
    page.get_by_test_id("gnode-first").click()
    pick_agent(page, "Inner agent")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    saved = next(f for f in api.get("/flows").json() if f["name"] == "Outer")
    assert [n["id"] for n in saved["nodes"]] == ["first", "call_inner"]
    assert saved["edges"] == [{"from": "first", "to": "call_inner"}]
