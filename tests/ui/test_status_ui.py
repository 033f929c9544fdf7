"""Issue 25, major 1 "status lies": every card, list and the overview show the current status of
each backend and agent, and why, without a page reload (real Chromium, a real ``magec serve``).

The server's periodic health round is an hour here, so every change the page shows comes from
the checks that run at once: after the backend is saved with another URL, and after a real chat
fails or succeeds. A marker set on ``window`` proves the page never reloaded.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, signed_in

pytestmark = pytest.mark.ui
#: expectations that wait for the server (a probe, a health check) on a loaded 2-core machine
SLOW = 45_000


@pytest.fixture(scope="module")
def slow_round_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("ui-status")
    srv = ServerProcess(data_dir=data, admin_password=ADMIN_PASSWORD, env={"MAGEC_HEALTH_INTERVAL": "3600"},
                        database_url=f"sqlite+aiosqlite:///{data / 'magec.db'}").start()
    yield srv
    srv.stop()


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def chat(server: ServerProcess, agent_id: str, text: str) -> list[dict[str, Any]]:
    body = {"appName": agent_id, "userId": "u", "sessionId": f"s-{text}", "newMessage": {"parts": [{"text": text}]}}
    r = httpx.post(server.user_url + "/api/v1/agent/run", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json())


def not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__statusMarker") == 42, "the page reloaded"


def test_status_follows_a_wrong_port_a_fix_an_outage_and_a_recovery_without_reload(
    page: Page, slow_round_server: ServerProcess, artifacts: Path
) -> None:
    outage = {"on": False}

    def responder(req: Any) -> Reply | None:
        return Reply.fail(503, "provider on fire") if outage["on"] else None

    srv = slow_round_server
    provider = FakeServer(OpenAIFake("lively", models=["l-chat"], responder=responder))
    try:
        api = httpx.Client(base_url=srv.admin_url + "/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
        b = api.post("/backends", json={"name": "Typo", "type": "openai", "url": dead_url(), "timeout": 2,
                                        "maxAttempts": 1}).json()
        a = api.post("/agents", json={"name": "Patient", "llm": {"backend": b["id"], "model": "l-chat"}}).json()

        signed_in(page, srv)
        page.evaluate("window.__statusMarker = 42")
        nav(page, "backends")
        card = page.get_by_test_id("backend-Typo")
        # saved with a wrong port: red with the reason (checked when saved, not at the next round)
        expect(page.get_by_test_id("health-Typo")).to_have_attribute("data-status", "down", timeout=SLOW)
        expect(card.locator(".dot.down")).to_be_visible()
        expect(page.get_by_test_id("health-error-Typo")).to_contain_text("cannot connect", timeout=SLOW)
        nav(page, "agents")
        expect(page.get_by_test_id("agent-status-Patient")).to_have_text("unreachable", timeout=SLOW)
        expect(page.get_by_test_id("agent-health-Patient")).to_contain_text("cannot connect", timeout=SLOW)
        nav(page, "overview")
        expect(page.get_by_test_id("overview-agent-Patient")).to_have_attribute("data-status", "unreachable", timeout=SLOW)
        expect(page.get_by_test_id("overview-backend-Typo")).to_have_attribute("data-status", "down", timeout=SLOW)
        expect(page.get_by_test_id("overview-backend-Typo")).to_contain_text("cannot connect", timeout=SLOW)
        page.screenshot(path=str(artifacts / "status-wrong-port-overview.png"), full_page=True)

        # the URL is fixed in the dialog: green again, the old error gone, no reload
        nav(page, "backends")
        card.get_by_role("button", name="Edit").click()
        dlg = page.get_by_test_id("backend-dialog")
        dlg.get_by_label("URL").fill(provider.url + "/v1")
        dlg.get_by_role("button", name="Save").click()
        expect(dlg).to_be_hidden()
        expect(page.get_by_test_id("health-Typo")).to_have_attribute("data-status", "up", timeout=SLOW)
        expect(page.get_by_test_id("health-error-Typo")).to_have_count(0)
        expect(card.locator(".dot.up")).to_be_visible()
        nav(page, "agents")
        expect(page.get_by_test_id("agent-status-Patient")).to_have_text("ready", timeout=SLOW)
        expect(page.get_by_test_id("agent-health-Patient")).to_have_count(0)
        assert "lively says: hello" in str(chat(srv, a["id"], "hello"))

        # the provider fails a real chat: the agent and its backend go red with the reason
        outage["on"] = True
        assert chat(srv, a["id"], "still there?")[-1].get("errorCode")
        expect(page.get_by_test_id("agent-status-Patient")).to_have_text("unreachable", timeout=SLOW)
        expect(page.get_by_test_id("agent-health-Patient")).to_contain_text("503", timeout=SLOW)
        nav(page, "backends")
        expect(page.get_by_test_id("health-Typo")).to_have_attribute("data-status", "down", timeout=SLOW)
        expect(page.get_by_test_id("health-error-Typo")).to_contain_text("503", timeout=SLOW)
        page.screenshot(path=str(artifacts / "status-outage-backends.png"), full_page=True)

        # ... and comes back: the next good chat turns everything green again
        outage["on"] = False
        assert "lively says: back" in str(chat(srv, a["id"], "back"))
        expect(page.get_by_test_id("health-Typo")).to_have_attribute("data-status", "up", timeout=SLOW)
        nav(page, "overview")
        expect(page.get_by_test_id("overview-agent-Patient")).to_have_attribute("data-status", "ready", timeout=SLOW)
        expect(page.get_by_test_id("overview-backend-Typo")).to_have_attribute("data-status", "up", timeout=SLOW)
        not_reloaded(page)
        assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
    finally:
        provider.stop()


def test_a_failed_test_turns_the_card_red_and_a_passing_one_green(page: Page, slow_round_server: ServerProcess) -> None:
    outage = {"on": True}

    def responder(req: Any) -> Reply | None:
        return Reply.fail(502, "bad gateway") if outage["on"] else None

    srv = slow_round_server
    with FakeServer(OpenAIFake("moody", models=["m-chat"], responder=responder)) as provider:
        api = httpx.Client(base_url=srv.admin_url + "/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
        api.post("/backends", json={"name": "Moody", "type": "openai", "url": provider.url + "/v1", "maxAttempts": 1})
        signed_in(page, srv)
        page.evaluate("window.__statusMarker = 42")
        nav(page, "backends")
        expect(page.get_by_test_id("health-Moody")).to_have_attribute("data-status", "down", timeout=SLOW)
        outage["on"] = False
        card = page.get_by_test_id("backend-Moody")
        card.get_by_role("button", name="Test").click()
        expect(page.get_by_test_id("health-Moody")).to_have_attribute("data-status", "up", timeout=SLOW)
        expect(page.get_by_test_id("health-Moody")).to_contain_text("by a test", timeout=SLOW)
        expect(page.get_by_test_id("last-test-Moody")).to_contain_text("Test passed", timeout=SLOW)
        outage["on"] = True
        card.get_by_role("button", name="Test").click()
        expect(page.get_by_test_id("health-Moody")).to_have_attribute("data-status", "down", timeout=SLOW)
        expect(page.get_by_test_id("health-error-Moody")).to_contain_text("bad gateway", timeout=SLOW)
        expect(page.get_by_test_id("last-test-Moody")).to_contain_text("Test failed", timeout=SLOW)
        not_reloaded(page)
