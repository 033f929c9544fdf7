"""The bots in a real ``magec serve``, configured only through the Admin API like a user would:
the client supervisor starts them, the Admin API shows their status, edits apply live, and a bot
whose platform is down does not disturb the others. Telegram webhook mode goes through the user
app's ``/api/v1/hooks/telegram/{clientId}`` with Telegram's secret header."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from magec.testing.fake_platforms import DiscordFake, SlackFake, TelegramFake
from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.server import ServerProcess
from magec.testing.services import free_port

A = "/api/v1/admin"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("alpha")) as s:
        yield s


def status_until(admin: httpx.Client, cid: str, predicate: Callable[[dict[str, Any]], bool],
                 timeout: float = 30.0) -> dict[str, Any]:
    """Poll the client's ``status`` in the Admin API until ``predicate`` holds (as the UI does)."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = admin.get(f"{A}/clients/{cid}")
        assert r.status_code == 200, r.text
        status = r.json().get("status") or {}
        if predicate(status):
            return status
        time.sleep(0.1)
    raise AssertionError(f"status never matched: {status}")


def setup_agent(admin: httpx.Client, llm: FakeServer) -> str:
    r = admin.post(f"{A}/backends", json={"name": "alpha", "type": "openai", "url": llm.url, "apiKey": "sk-e2e-123456"})
    assert r.status_code == 201, r.text
    r = admin.post(f"{A}/agents", json={"name": "Alpha", "llm": {"backend": r.json()["id"], "model": "m-1"}})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def new_client(admin: httpx.Client, ctype: str, cfg: dict[str, Any], agent: str, name: str) -> dict[str, Any]:
    r = admin.post(f"{A}/clients", json={"name": name, "type": ctype, "allowedAgents": [agent],
                                          "config": {ctype: cfg}})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_three_bots_live_with_one_down(tmp_path: Path, llm: FakeServer) -> None:
    with (
        TelegramFake() as tg, SlackFake() as sl, DiscordFake() as dc,
        ServerProcess(tmp_path / "srv") as srv, httpx.Client(base_url=srv.admin_url, timeout=30) as admin,
    ):
        agent = setup_agent(admin, llm)
        t = new_client(admin, "telegram", {"botToken": tg.token, "apiBaseUrl": tg.url}, agent, "tg")
        s = new_client(admin, "slack", {"botToken": sl.bot_token, "appToken": sl.app_token,
                                        "apiBaseUrl": sl.api_base}, agent, "slack")
        d = new_client(admin, "discord", {"botToken": dc.token, "apiBaseUrl": dc.api_base}, agent, "discord")
        down = new_client(admin, "telegram", {"botToken": "555:E2E-down-token-secret",
                                              "apiBaseUrl": f"http://127.0.0.1:{free_port()}"}, agent, "down")
        assert "E2E-down-token-secret" not in str(down)  # write-only token
        st = status_until(admin, t["id"], lambda x: x.get("connected") is True)
        assert st["identity"] == "@magec_test_bot" and st["running"] is True
        assert status_until(admin, s["id"], lambda x: x.get("connected") is True)["identity"] == "@magec"
        assert status_until(admin, d["id"], lambda x: x.get("connected") is True)["identity"] == "@magec-bot"
        bad = status_until(admin, down["id"], lambda x: bool(x.get("lastError")))
        assert bad["connected"] is False and "E2E-down-token-secret" not in str(bad)

        tg.send_text(chat_id=61, user_id=61, text="via telegram")
        sl.send_message("D61", "U61", "via slack", channel_type="im")
        dc.wait_connected()
        dc.send_message("6100", "61", "via discord", guild_id=None)
        assert tg.wait_sent(61, "sendMessage")[0].text == "alpha says: via telegram"
        assert sl.wait_sent("D61", "chat.postMessage")[0].text == "alpha says: via slack"
        assert dc.wait_sent("6100", "message")[0].text == "alpha says: via discord"
        assert status_until(admin, t["id"], lambda x: x.get("lastMessageAt") is not None)

        # disabling the Discord client stops its bot at once; enabling starts it again
        # (read-your-writes: the write's answer already shows the worker stopped / started)
        r = admin.put(f"{A}/clients/{d['id']}", json={**d, "enabled": False})
        assert r.status_code == 200, r.text
        st = admin.get(f"{A}/clients/{d['id']}").json()["status"]
        assert st["running"] is False and st["connected"] is False
        dc.wait_for(lambda _: dc.connected == 0)
        r = admin.put(f"{A}/clients/{d['id']}", json={**d, "enabled": True})
        assert r.status_code == 200, r.text
        assert admin.get(f"{A}/clients/{d['id']}").json()["status"]["running"] is True
        status_until(admin, d["id"], lambda x: x.get("connected") is True)
        dc.send_message("6101", "62", "back again", guild_id=None)
        assert dc.wait_sent("6101", "message")[0].text == "alpha says: back again"


def test_telegram_webhook_mode(tmp_path: Path, llm: FakeServer) -> None:
    srv = ServerProcess(tmp_path / "srv")
    srv.server_config = {"publicURL": srv.user_url}
    with TelegramFake() as tg, srv, httpx.Client(base_url=srv.admin_url, timeout=30) as admin:
        agent = setup_agent(admin, llm)
        t = new_client(admin, "telegram", {"botToken": tg.token, "apiBaseUrl": tg.url}, agent, "hooked")
        status_until(admin, t["id"], lambda x: x.get("connected") is True)
        hook = f"{srv.user_url}/api/v1/hooks/telegram/{t['id']}"
        tg.wait_for(lambda _: tg.webhook is not None and tg.webhook["url"] == hook)
        assert tg.polls == 0  # no long polling in webhook mode
        tg.send_text(chat_id=71, user_id=71, text="through the webhook")
        assert tg.wait_sent(71, "sendMessage")[0].text == "alpha says: through the webhook"
        assert tg.webhook_deliveries == [200]
        # only Telegram (who knows the secret) may post updates
        update = {"update_id": 99, "message": {"message_id": 1, "date": 0, "chat": {"id": 72, "type": "private"},
                                               "from": {"id": 72, "is_bot": False, "first_name": "M"}, "text": "hi"}}
        assert httpx.post(hook, json=update).status_code == 401
        wrong = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
        assert httpx.post(hook, json=update, headers=wrong).status_code == 401
        # an unknown id answers like a wrong secret: nothing says which ids are Telegram bots
        assert httpx.post(f"{srv.user_url}/api/v1/hooks/telegram/nope", json=update,
                          headers=wrong).status_code == 401
        assert tg.sent_to(72) == []
