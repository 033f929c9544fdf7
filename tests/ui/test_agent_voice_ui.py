"""Journey 3 in the Admin UI (real Chromium, a real ``magec serve``): one agent gets a voice on an
OpenAI-compatible speech server written as Magec's seed page writes it (no ``/v1``), another keeps
none."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .test_admin_ui import nav, signed_in

pytestmark = pytest.mark.ui


def test_the_voice_field_offers_openai_voices(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                               api: httpx.Client) -> None:
    """An OpenAI-compatible TTS backend (OpenAI, openai-edge-tts, LocalAI…) takes OpenAI's voice
    names; the Voice field offered none (the type listed no voices), so a first-time operator had
    to know "nova" from elsewhere."""
    llm = api.post("/backends", json={"name": "Voice LLM", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    api.post("/backends", json={"name": "Edge TTS voice", "type": "openai", "url": fakes["beta"].url}).raise_for_status()
    signed_in(page, server)
    nav(page, "agents")
    page.get_by_role("button", name="New agent").first.click()
    dlg = page.get_by_test_id("agent-dialog")
    dlg.get_by_label("Name").first.fill("Voiced helper")
    dlg.locator("#a-llm-backend").select_option(llm["id"])
    dlg.locator("#a-llm-model").fill("alpha-chat")
    voice = dlg.locator("details", has=page.locator("summary", has_text="Voice"))
    voice.locator("summary").click()
    voice.get_by_role("combobox", name="Backend").last.select_option(label="Edge TTS voice")
    expect(dlg.locator("#a-voices option[value='nova']")).to_have_count(1)
    expect(dlg.locator("#a-voices option[value='alloy']")).to_have_count(1)
    dlg.locator("#a-voice").fill("nova")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    saved = next(a for a in api.get("/agents").json() if a["name"] == "Voiced helper")
    assert saved["tts"]["voice"] == "nova"
    assert page.js_errors == []  # type: ignore[attr-defined]
