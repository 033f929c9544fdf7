"""A bot's users by name in a real Chromium against a real ``magec serve``: grandma writes to the
family Telegram bot (a loopback Telegram), and the Conversations page and the Memory page show her
as "@grandma (99)" — before, as "99", a number the admin could not tell from any other. A user of
the API, whom no platform names, is still shown by id alone."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_platforms import TelegramFake
from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, shot, signed_in

pytestmark = pytest.mark.ui


def _eventually(read: Any, what: str, timeout: float = 30.0) -> Any:
    """``read()`` once it is truthy (what an admin sees over the API), else fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not (value := read()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)
    return value


def test_a_telegram_user_is_shown_by_name_on_conversations_and_memory(
    page: Page, server: ServerProcess, fakes: dict[str, FakeServer], artifacts: Any
) -> None:
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", timeout=60,
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})
    b = api.post("/backends", json={"name": "Family backend", "type": "openai",
                                    "url": fakes["alpha"].url + "/v1"}).json()
    mem = api.post("/memory", json={"name": "Family notes", "type": "sqlite", "category": "longterm",
                                    "embedding": {"backend": b["id"], "model": "alpha-embed"}}).json()
    assert api.put("/settings", json={"longTermProvider": mem["id"]}).status_code == 200
    a = api.post("/agents", json={"name": "Family agent", "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()
    # an API user: no platform names them
    r = httpx.post(server.user_url + "/api/v1/agent/run", timeout=60, json={
        "appName": a["id"], "userId": "carol", "sessionId": "api-1",
        "newMessage": {"role": "user", "parts": [{"text": "hello from the API"}]}})
    assert r.status_code == 200, r.text

    with TelegramFake("424245:names-token", username="family_names_bot") as tg:
        c = api.post("/clients", json={"name": "Family bot", "type": "telegram", "allowedAgents": [a["id"]],
                                       "config": {"telegram": {"botToken": tg.token, "apiBaseUrl": tg.url,
                                                               "allowedUsers": [99]}}}).json()
        save = "call save_to_memory " + json.dumps({"content": "Grandma takes mint tea"})
        tg.send_text(chat_id=99, user_id=99, text=save, username="grandma")
        tg.wait_sent(99, "sendMessage", timeout=60)  # the bot answered her
        try:
            _check(page, server, api, c, artifacts)
        finally:
            api.delete(f"/clients/{c['id']}")


def _check(page: Page, server: ServerProcess, api: httpx.Client, c: dict[str, Any], artifacts: Any) -> None:
    listed = _eventually(lambda: [i for i in api.get("/conversations", params={"perspective": "user"}).json()["items"]
                                  if i.get("clientId") == c["id"]], "grandma's conversation listed")
    assert listed[0]["userId"] == "99" and listed[0]["userName"] == "@grandma", listed
    memories = _eventually(lambda: api.get("/memory/entries").json()["items"], "grandma's memory stored")
    assert memories[0]["userName"] == "@grandma", memories

    signed_in(page, server)
    nav(page, "conversations")
    users = page.get_by_test_id("conversation-list").get_by_test_id("conversation-user")
    expect(users).to_have_count(2)
    expect(users).to_contain_text(["@grandma (99)", "carol"])
    expect(users.filter(has_text="carol")).to_have_text("carol")  # no name: the id alone
    shot(page, artifacts, "conversations-bot-user-name", full=False)
    page.get_by_test_id("conversation-list").locator("tbody tr", has_text="@grandma").click()
    expect(page.get_by_test_id("detail-user")).to_have_text("@grandma (99)")

    nav(page, "memory")
    expect(page.get_by_test_id("memory-user")).to_have_text(["@grandma (99)"])
    expect(page.get_by_test_id("memory-client-name")).to_have_text(["Family bot"])
    assert page.js_errors == []  # type: ignore[attr-defined]
