"""Live backend health in the Admin UI: a backend that goes down shows down, and its agent says
why, without a page reload (real Chromium, a real ``magec serve`` checking every 0.3 s)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, signed_in

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("ui-live-health")
    srv = ServerProcess(data_dir=data, admin_password=ADMIN_PASSWORD, env={"MAGEC_HEALTH_INTERVAL": "0.3"},
                        database_url=f"sqlite+aiosqlite:///{data / 'magec.db'}").start()
    yield srv
    srv.stop()


def test_down_backend_and_its_agent_update_without_reload(page: Page, live_server: ServerProcess) -> None:
    provider = FakeServer(OpenAIFake("vanishing", models=["v-chat"]))
    steady = FakeServer(OpenAIFake("steady", models=["s-chat"]))
    try:
        api = httpx.Client(base_url=live_server.admin_url + "/api/v1/admin",
                           headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)  # a loaded machine
        b = api.post("/backends", json={"name": "Vanishing", "type": "openai", "url": provider.url + "/v1",
                                        "timeout": 2}).json()
        s = api.post("/backends", json={"name": "Steady", "type": "openai", "url": steady.url + "/v1"}).json()
        api.post("/agents", json={"name": "Fragile", "llm": {"backend": b["id"], "model": "v-chat"}})
        api.post("/agents", json={"name": "Sturdy", "llm": {"backend": s["id"], "model": "s-chat"}})

        signed_in(page, live_server)
        nav(page, "backends")
        expect(page.get_by_test_id("health-Vanishing")).to_contain_text("up")
        expect(page.get_by_test_id("backend-Vanishing").locator(".dot.up")).to_be_visible()

        provider.stop()  # the provider goes away while the page stays open
        expect(page.get_by_test_id("health-Vanishing")).to_contain_text("down")
        expect(page.get_by_test_id("backend-Vanishing").locator(".dot.down")).to_be_visible()
        expect(page.get_by_test_id("backend-Vanishing")).to_contain_text("cannot connect")
        expect(page.get_by_test_id("health-Steady")).to_contain_text("up")

        nav(page, "agents")  # client-side navigation, no reload
        expect(page.get_by_test_id("agent-health-Fragile")).to_contain_text("backend unreachable")
        expect(page.get_by_test_id("agent-health-Fragile")).to_contain_text("Vanishing")
        expect(page.get_by_test_id("agent-health-Sturdy")).to_have_count(0)
        nav(page, "overview")
        expect(page.get_by_test_id("overview-agent-Fragile")).to_contain_text("unreachable")
        assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
    finally:
        provider.stop()
        steady.stop()
