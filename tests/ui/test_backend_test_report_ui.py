"""Issue 25, major 3 "Test connection misreports" and the minors of the backends, agents, secrets
and overview pages, in a real Chromium against a real ``magec serve`` and loopback fakes.

The report shows only what was measured; an optional tool-check failure is a warning; "auto"
picks a listed chat model; the New dialog's full probe is kept on the card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer, OpenAIFake, RecordedRequest, Reply
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, signed_in

pytestmark = pytest.mark.ui
#: expectations that wait for the server (a probe, a health check) on a loaded 2-core machine
SLOW = 45_000


def admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                        headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)


def test_report_shows_measured_roles_only_and_the_card_keeps_it(page: Page, server: ServerProcess, artifacts: Path) -> None:
    listings = []  # the first model listing is slow, so "Testing…" can be seen

    def picky(req: Any) -> Reply | None:
        if req.route == "models":
            listings.append(req)
            return Reply(delay=3.0) if len(listings) == 1 else None
        if req.route == "chat" and (req.json or {}).get("tools"):
            return Reply(text="I would rather not")  # answers, never calls the tool
        return None

    with FakeServer(OpenAIFake("picky", models=["p-chat", "p-embed", "parakeet-chat"], embedding_dim=24,
                               responder=picky)) as srv:
        signed_in(page, server)
        nav(page, "backends")
        page.get_by_role("button", name="New backend").first.click()
        dlg = page.get_by_test_id("backend-dialog")
        dlg.get_by_label("Name").fill("Picky")

        # the Ollama hint belongs to the OpenAI-compatible type only
        expect(dlg.get_by_test_id("url-hint")).to_contain_text("Ollama", timeout=SLOW)
        for other in ("Anthropic", "Google Gemini"):
            dlg.locator(".type-option", has_text=other).click()
            expect(dlg.get_by_test_id("url-hint")).not_to_contain_text("Ollama")
        dlg.locator(".type-option", has_text="OpenAI-compatible").click()
        dlg.get_by_label("URL").fill(srv.url + "/v1")

        # "Testing…" spins while the provider is slow
        dlg.get_by_test_id("test-connection").click()
        expect(dlg.get_by_test_id("test-connection")).to_contain_text("Testing…", timeout=SLOW)
        expect(dlg.locator("[data-testid=test-spinner].spin")).to_be_visible()
        results = dlg.get_by_test_id("test-results")
        expect(results.get_by_test_id("test-verdict")).to_have_text("Connection OK", timeout=SLOW)
        # a quick test measured the model list only: every role says "not tested"
        for role in ("llm", "tools", "embeddings", "tts", "stt"):
            expect(results.locator(f'[data-role="{role}"]')).to_have_attribute("data-state", "not tested", timeout=SLOW)
        expect(results.get_by_test_id("test-works")).to_contain_text("not tested", timeout=SLOW)
        expect(results).to_contain_text("3 models listed", timeout=SLOW)

        # full probe, chat model left on "auto": a listed chat model is picked and tested
        dlg.get_by_test_id("full-probe").check()
        expect(dlg.get_by_label("Chat model", exact=True)).to_have_value("")
        dlg.get_by_test_id("test-connection").click()
        expect(results.get_by_test_id("test-verdict")).to_have_text("Connection OK, with 1 warning", timeout=SLOW)
        expect(results.locator('[data-role="llm"]')).to_have_attribute("data-state", "ok", timeout=SLOW)
        expect(results.locator('[data-role="llm"]')).to_contain_text("p-chat", timeout=SLOW)
        expect(results.locator('[data-role="tools"]')).to_have_attribute("data-state", "warning", timeout=SLOW)
        expect(results.get_by_test_id("test-warnings")).to_contain_text("did not call", timeout=SLOW)
        expect(results.locator('[data-role="embeddings"]')).to_have_attribute("data-state", "ok", timeout=SLOW)
        expect(results.get_by_test_id("test-works")).to_have_text("LLM, Embeddings", timeout=SLOW)
        expect(results.get_by_test_id("test-dimension")).to_have_text("24", timeout=SLOW)
        # no guessed speech model: parakeet-chat is a chat model, STT/TTS stay untested
        expect(results.locator('[data-role="stt"]')).to_have_attribute("data-state", "not tested", timeout=SLOW)
        expect(results.locator('[data-role="stt"]')).not_to_contain_text("parakeet")
        expect(results.get_by_test_id("test-untested")).to_contain_text("TTS", timeout=SLOW)
        expect(results).not_to_contain_text("1 models")
        # columns stay put: every row's latency and detail cells start at the same x
        xs = page.evaluate("""() => [...document.querySelectorAll('[data-testid=test-results] tr')].map(
            (tr) => [...tr.children].map((td) => Math.round(td.getBoundingClientRect().left)).join(','))""")
        assert len(set(xs)) == 1, xs
        # the detail is never cut mid-word ("…rnn"): the cell wraps and keeps its full text
        detail = results.locator('[data-role="tools"] td.detail')
        assert page.evaluate("(el) => el.scrollWidth <= el.clientWidth + 1", detail.element_handle())
        page.screenshot(path=str(artifacts / "backend-test-report-measured.png"), full_page=False)

        dlg.get_by_role("button", name="Create").click()
        expect(dlg).to_be_hidden()
        chats = len(srv.provider.requests_to("chat"))  # type: ignore[union-attr]
        last = page.get_by_test_id("last-test-Picky")
        expect(last).to_contain_text("Test passed, with warnings", timeout=SLOW)
        expect(last.locator('[data-role="llm"]')).to_contain_text("✓ LLM", timeout=SLOW)
        expect(last.locator('[data-role="embeddings"]')).to_contain_text("✓ EMB", timeout=SLOW)
        expect(last).to_contain_text("24-d", timeout=SLOW)
        expect(last.locator('[data-role="stt"]')).to_have_count(0)  # never tested: not claimed
        assert len(srv.provider.requests_to("chat")) == chats  # type: ignore[union-attr]  # kept, not re-run
        page.get_by_test_id("backend-Picky").screenshot(path=str(artifacts / "backend-card-last-test.png"))
        assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_api_key_underscores_are_drawn(page: Page, server: ServerProcess, artifacts: Path) -> None:
    signed_in(page, server)
    nav(page, "backends")
    page.get_by_role("button", name="New backend").first.click()
    key = page.get_by_test_id("backend-dialog").locator("#b-key")
    key.fill("${OPENAI API KEY}")
    spaces = key.screenshot()
    key.fill("${OPENAI_API_KEY}")
    underscores = key.screenshot(path=str(artifacts / "api-key-underscores.png"))
    assert underscores != spaces, "the underscores are not drawn (clipped by the line box)"
    # and the glyphs fit inside the field's content box
    fits = page.evaluate("""(el) => {
        const cs = getComputedStyle(el);
        return parseFloat(cs.lineHeight) >= 1.5 * parseFloat(cs.fontSize) && el.scrollHeight <= el.clientHeight + 1; }""",
                         key.element_handle())
    assert fits


def test_agent_secrets_and_overview_minors(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                           artifacts: Path) -> None:
    api = admin(server)
    api.post("/secrets", json={"name": "Shared", "key": "SHARED_KEY", "value": "s3cret"}).raise_for_status()
    api.post("/secrets", json={"name": "Idle", "key": "IDLE_KEY", "value": "x"}).raise_for_status()
    alpha = api.post("/backends", json={"name": "Alpha", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    api.post("/backends", json={"name": "Beta", "type": "openai", "url": fakes["beta"].url + "/v1",
                                "apiKey": "${SHARED_KEY}"}).raise_for_status()
    signed_in(page, server)

    # an agent without a backend is refused at the field, nothing is saved
    nav(page, "agents")
    page.get_by_role("button", name="New agent").first.click()
    dlg = page.get_by_test_id("agent-dialog")
    dlg.get_by_label("Name").first.fill("Switcher")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg.get_by_test_id("agent-backend-error")).to_contain_text("backend", timeout=SLOW)
    expect(dlg).to_be_visible()
    expect(dlg.locator("#a-llm-backend")).to_be_focused()
    assert not [a for a in api.get("/agents").json() if a["name"] == "Switcher"]

    # the LLM field suggests chat models only; switching the backend clears the old model, says so
    dlg.locator("#a-llm-backend").select_option(label="Alpha (openai)")
    expect(dlg.get_by_test_id("agent-backend-error")).to_have_count(0)
    expect(dlg.locator("datalist option[value='alpha-chat']")).to_have_count(1)
    expect(dlg.locator("datalist option[value='alpha-embed']")).to_have_count(0)
    dlg.locator("#a-llm-model").fill("alpha-chat")
    dlg.locator("#a-llm-backend").select_option(label="Beta (openai)")
    expect(dlg.locator("#a-llm-model")).to_have_value("")
    expect(dlg.get_by_test_id("agent-model-note")).to_contain_text("alpha-chat", timeout=SLOW)
    expect(dlg.locator("datalist option[value='beta-chat']")).to_have_count(1)
    dlg.locator("#a-llm-model").fill("beta-chat")
    page.screenshot(path=str(artifacts / "agent-backend-switch.png"), full_page=False)
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    agent = next(a for a in api.get("/agents").json() if a["name"] == "Switcher")
    assert agent["llm"]["model"] == "beta-chat"

    # secrets say who uses them
    nav(page, "secrets")
    expect(page.get_by_test_id("secret-used-SHARED_KEY")).to_contain_text("Beta · backend", timeout=SLOW)
    expect(page.get_by_test_id("secret-used-IDLE_KEY")).to_contain_text("Not used yet", timeout=SLOW)
    page.screenshot(path=str(artifacts / "secrets-used-by.png"), full_page=False)

    # overview: no offline-demo offer with backends of one's own, tiles in full rows,
    # and "chat with it" ticked once an agent has answered
    nav(page, "overview")
    expect(page.get_by_test_id("overview-backend-Alpha")).to_be_visible()
    expect(page.get_by_test_id("demo-panel")).to_have_count(0)
    rows = page.evaluate("""() => { const r = {}; for (const t of document.querySelectorAll('.tiles .tile')) {
        const y = Math.round(t.getBoundingClientRect().top); r[y] = (r[y] || 0) + 1; } return Object.values(r); }""")
    assert len(set(rows)) == 1 and rows[0] > 1, rows  # every row as full as the first: no lone tile
    step = page.get_by_test_id("step-playground")
    expect(step).to_have_attribute("data-done", "false", timeout=SLOW)
    body = {"appName": agent["id"], "userId": "u", "newMessage": {"parts": [{"text": "hi"}]}}
    assert httpx.post(server.user_url + "/api/v1/agent/run", json=body, timeout=30).status_code == 200
    expect(step).to_have_attribute("data-done", "true", timeout=SLOW)
    page.screenshot(path=str(artifacts / "overview-status.png"), full_page=True)
    del alpha
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_a_model_list_that_failed_is_asked_again_by_itself(page: Page, server: ServerProcess) -> None:
    """A busy server or a provider slow to answer made the first listing fail: the model field's
    suggestions stayed empty until someone clicked refresh. The UI asks once more by itself."""
    up = {"ok": False}

    def listing(req: RecordedRequest) -> Reply | None:
        return None if up["ok"] or req.route != "models" else Reply.fail(503, "busy")

    with FakeServer(OpenAIFake("gamma", models=["gamma-chat"], responder=listing)) as gamma:
        api = admin(server)
        api.post("/backends", json={"name": "Gamma", "type": "openai", "url": gamma.url + "/v1"}).raise_for_status()
        signed_in(page, server)
        nav(page, "agents")
        page.get_by_role("button", name="New agent").first.click()
        dlg = page.get_by_test_id("agent-dialog")
        dlg.locator("#a-llm-backend").select_option(label="Gamma (openai)")
        expect(dlg).to_contain_text("Could not list models", timeout=SLOW)
        up["ok"] = True  # the provider answers again; nobody clicks refresh
        expect(dlg.locator("datalist option[value='gamma-chat']")).to_have_count(1, timeout=SLOW)
        expect(dlg).not_to_contain_text("Could not list models")
        assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
