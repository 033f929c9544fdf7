"""The Overview's cost chart and the price editor in the Admin UI (real Chromium, a real ``magec
serve``): turns on a model with no price show as unpriced; a price entered in the editor reprices
them in the report, the chart and the CSV export; a bad entry shows the field the server named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer, OpenAIFake, RecordedRequest, Reply
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, shot, signed_in

pytestmark = pytest.mark.ui

USAGE = (300, 100)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    def respond(req: RecordedRequest) -> Reply | None:
        return Reply(text="hello", usage=USAGE) if req.route == "chat" else None

    with FakeServer(OpenAIFake("alpha", responder=respond)) as s:
        yield s


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[ServerProcess]:
    data = tmp_path / "srv"
    s = ServerProcess(data_dir=data, admin_password=ADMIN_PASSWORD,
                      database_url=f"sqlite+aiosqlite:///{data / 'magec.db'}").start()
    yield s
    s.stop()


def test_overview_chart_and_price_editor(page: Page, srv: ServerProcess, fake: FakeServer, artifacts: Path) -> None:
    api = httpx.Client(base_url=srv.admin_url + "/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=60)
    b = api.post("/backends", json={"name": "Alpha", "type": "openai", "url": fake.url, "apiKey": "k"}).json()
    a = api.post("/agents", json={"name": "Helper", "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()
    for text in ("one", "two"):
        r = httpx.post(srv.user_url + "/api/v1/agent/run", timeout=60, json={
            "appName": a["id"], "userId": "u", "sessionId": "s", "newMessage": {"role": "user", "parts": [{"text": text}]}})
        assert r.status_code == 200 and "hello" in r.text, r.text
    today = datetime.now(UTC).date().isoformat()

    signed_in(page, srv)
    chart = page.get_by_test_id("overview-costs").get_by_test_id("cost-chart")
    expect(chart.get_by_test_id("cost-total")).to_have_text("0.00 USD")
    expect(chart).to_contain_text("2 model calls")
    expect(chart).to_contain_text("some models have no price")
    expect(chart.get_by_test_id("cost-bar")).to_have_count(30)
    expect(chart.locator(f'[data-day="{today}"]')).to_have_attribute("data-cost", "0")

    nav(page, "costs")
    report = page.get_by_test_id("cost-report")
    expect(report).to_contain_text("Helper")
    expect(report).to_contain_text("unpriced")
    editor = page.get_by_test_id("price-editor")
    # a new row with no model name: the server's 400 names the field
    page.get_by_test_id("price-add").click()
    editor.get_by_test_id("price-save").click()
    expect(page.get_by_test_id("price-error")).to_contain_text(".model")
    row = editor.locator("tbody tr").last
    row.get_by_test_id("price-model").fill("alpha-chat")
    row.get_by_test_id("price-input").fill("1000")   # per 1M tokens
    row.get_by_test_id("price-output").fill("3000")
    editor.get_by_test_id("price-save").click()
    expect(page.get_by_test_id("price-error")).to_have_count(0)
    per_call = (USAGE[0] * 1000 + USAGE[1] * 3000) / 1e6  # 0.6
    expected = f"{2 * per_call:.2f} USD"
    expect(report.locator("tr", has_text="Helper")).to_contain_text(expected)
    expect(report).not_to_contain_text("unpriced")
    stored = api.get("/costs/prices").json()
    assert stored["defaults"] is False
    assert {"model": "alpha-chat", "input": 1000.0, "output": 3000.0, "cached": None} in stored["prices"]
    shot(page, artifacts, "costs-page")

    # a daily budget on the agent, set from the Costs page: already spent by the two turns
    form = page.get_by_test_id("budget-form")
    form.get_by_test_id("budget-target").select_option(f"agent:{a['id']}")
    form.get_by_test_id("budget-amount").fill("1")
    form.get_by_test_id("budget-period").select_option("day")
    form.get_by_test_id("budget-save").click()
    row = page.get_by_test_id("budget-Helper")
    expect(row).to_contain_text("1 USD / day")
    expect(row).to_contain_text("(spent)")
    agent_now = api.get(f"/agents/{a['id']}").json()
    assert agent_now["budget"] == {"amount": 1.0, "period": "day", "unit": "cost"}
    assert agent_now["llm"] == a["llm"] and agent_now["name"] == "Helper"  # nothing else changed
    r = httpx.post(srv.user_url + "/api/v1/agent/run", timeout=60, json={
        "appName": a["id"], "userId": "u", "sessionId": "s", "newMessage": {"role": "user", "parts": [{"text": "3"}]}})
    assert r.json()[-1]["errorCode"] == "budget_exceeded"
    row.get_by_role("button", name="Remove the budget of Helper").click()
    expect(page.get_by_test_id("budget-Helper")).to_have_count(0)
    assert api.get(f"/agents/{a['id']}").json()["budget"] is None

    with page.expect_download() as dl:
        page.get_by_test_id("cost-export").click()
    csv_text = Path(dl.value.path()).read_text()
    assert csv_text.splitlines()[0].startswith("agent,agentName,")
    assert "Helper" in csv_text and f"{2 * per_call}" in csv_text

    nav(page, "overview")
    chart = page.get_by_test_id("overview-costs").get_by_test_id("cost-chart")
    expect(chart.get_by_test_id("cost-total")).to_have_text(expected)
    expect(chart).not_to_contain_text("no price")
    bar = chart.locator(f'[data-day="{today}"]')
    expect(bar).to_have_attribute("data-cost", str(2 * per_call))
    assert float(bar.get_attribute("height") or 0) > 100  # the only day with spend is the tallest bar
    shot(page, artifacts, "overview-costs")

    # a small model's cost is shown with its significant digits, not rounded to "0.00"
    prices = api.get("/costs/prices").json()
    tiny = [{**p, "input": 0.05, "output": 0.05} if p["model"] == "alpha-chat" else p for p in prices["prices"]]
    api.put("/costs/prices", json={"currency": prices["currency"], "prices": tiny}).raise_for_status()
    nav(page, "costs")
    expect(page.get_by_test_id("cost-report").locator("tr", has_text="Helper")).to_contain_text("0.00004 USD")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
