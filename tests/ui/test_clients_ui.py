"""Clients in the Admin UI (real Chromium, a real ``magec serve``): a Telegram client imported from
Magec (``magec import-magec``) is edited in the generated per-type form and keeps every config
field; new cron clients get their form from the schema and show next/last run; the bot token test
reports the identity from a loopback Telegram; a webhook client shows the URL to POST to, which works
as shown."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_platforms import TelegramFake
from magec.testing.fake_providers import FakeServer, Reply
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import nav, shot, signed_in

pytestmark = pytest.mark.ui

SEED = Path(__file__).parents[1] / "clients" / "data" / "magec-bot-clients.json"
TG_ID = "c0000000-0000-0000-0000-0000000000b1"
AGENT = "a0000000-0000-0000-0000-000000000001"


def test_edit_imported_telegram_client_keeps_every_field(
    page: Page, fakes: dict[str, FakeServer], artifacts: Path, tmp_path: Path
) -> None:
    seed = json.loads(SEED.read_text())
    doc = {
        "backends": [{"id": "b-seed", "name": "Seed backend", "type": "openai", "url": fakes["alpha"].url + "/v1"}],
        "agents": [{"id": AGENT, "name": "Seed agent", "llm": {"backend": "b-seed", "model": "alpha-chat"}}],
        "commands": seed["commands"],
        "clients": [c for c in seed["clients"] if c["type"] == "telegram"],
    }
    original: dict[str, Any] = doc["clients"][0]
    (tmp_path / "store.json").write_text(json.dumps(doc))
    data = tmp_path / "srv"
    srv = ServerProcess(data_dir=data, admin_password=ADMIN_PASSWORD,
                        database_url=f"sqlite+aiosqlite:///{data / 'magec.db'}").start()
    srv.stop()  # config.yaml written; import into its database, then serve it
    done = subprocess.run([sys.executable, "-m", "magec", "import-magec", str(tmp_path / "store.json"),
                           "--config", str(data / "config.yaml")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    srv.start()
    try:
        api = httpx.Client(base_url=srv.admin_url + "/api/v1/admin",
                           headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
        before = api.get(f"/clients/{TG_ID}").json()
        assert before["config"]["telegram"]["botTokenSet"] is True

        signed_in(page, srv)
        nav(page, "clients")
        page.get_by_test_id("client-Team Telegram").click()
        dlg = page.get_by_test_id("client-dialog")
        expect(dlg).to_be_visible()
        expect(dlg.get_by_test_id("client-type")).to_have_value("telegram")
        form = dlg.get_by_test_id("client-config-telegram")
        expect(form.get_by_label("Allowed Users")).to_have_value("111, 222")
        expect(form.get_by_label("Response Mode")).to_have_value("mirror")
        expect(form.get_by_label("Default Agent")).to_have_value(AGENT)
        expect(form.get_by_label("Bot Token")).to_have_attribute("placeholder", "stored — leave empty to keep")
        form.get_by_label("Allowed Users").fill("111, 222, 333")
        shot(page, artifacts, "client-telegram-form", full=False)
        dlg.get_by_role("button", name="Save").click()
        expect(dlg).to_be_hidden()

        after = api.get(f"/clients/{TG_ID}").json()
        want = json.loads(json.dumps(original["config"]))
        want["telegram"]["allowedUsers"] = [111, 222, 333]
        want["telegram"]["botToken"] = ""
        want["telegram"]["botTokenSet"] = True
        assert after["config"] == want
        for key in ("name", "type", "allowedAgents", "enabled"):
            assert after[key] == original[key]
        assert page.js_errors == []  # type: ignore[attr-defined]
    finally:
        srv.stop()


def _agent_and_command(server: ServerProcess, fakes: dict[str, FakeServer], prefix: str, command: str,
                       prompt: str) -> tuple[httpx.Client, dict[str, Any], dict[str, Any]]:
    """An Admin API client, an agent "<prefix> agent" on the alpha fake and a command."""
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
    b = api.post("/backends", json={"name": f"{prefix} backend", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    a = api.post("/agents", json={"name": f"{prefix} agent", "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()
    return api, a, api.post("/commands", json={"name": command, "prompt": prompt}).json()


def _new_client_dialog(page: Page, server: ServerProcess, name: str, kind: str, agent: str) -> Any:
    """The Clients page's New client dialog, named, of ``kind``, with ``agent`` allowed."""
    signed_in(page, server)
    nav(page, "clients")
    page.get_by_role("button", name="New client").first.click()
    dlg = page.get_by_test_id("client-dialog")
    dlg.get_by_label("Name").first.fill(name)
    dlg.get_by_test_id("client-type").select_option(kind)
    dlg.get_by_text(agent).click()
    return dlg


def _create_cron(dlg: Any, schedule: str, command_id: str) -> Any:
    """Fill the cron form of the New client dialog and press Create; the form, for what follows."""
    form = dlg.get_by_test_id("client-config-cron")
    form.get_by_label("Schedule").fill(schedule)
    form.get_by_label("Command").select_option(command_id)
    dlg.get_by_role("button", name="Create").click()
    return form


def test_new_cron_client_and_token_test(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                         artifacts: Path) -> None:
    api, a, cmd = _agent_and_command(server, fakes, "Cron", "Standup", "Write the standup")
    dlg = _new_client_dialog(page, server, "Weekly standup", "cron", "Cron agent")
    form = _create_cron(dlg, "not a cron", cmd["id"])
    expect(dlg.get_by_role("alert")).to_contain_text("config.cron.schedule")
    # at the field itself, the words without the JSON path (the field says which one it is)
    err = form.get_by_label("Schedule").locator("xpath=..").locator("[data-field-error]")
    expect(err).to_have_text("'not a cron' has 3 fields; a cron expression has 5 (minute hour day month weekday)")
    form.get_by_label("Schedule").fill("0 9 * * mon")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    c = next(x for x in api.get("/clients").json() if x["name"] == "Weekly standup")
    assert c["config"] == {"cron": {"schedule": "0 9 * * mon", "commandId": cmd["id"]}}
    assert c["allowedAgents"] == [a["id"]]
    card = page.get_by_test_id("client-status-Weekly standup")
    expect(card.get_by_test_id("cron-next")).not_to_have_text("—")
    expect(card.get_by_test_id("cron-last")).to_have_text("—")
    # a schedule connects to nothing: its live scheduler reads "scheduled" (it read "connected")
    expect(card.get_by_test_id("client-state")).to_have_text("scheduled")

    with TelegramFake("424242:ui-test-token", username="ui_test_bot") as tg:
        api.post("/clients", json={"name": "Bot to test", "type": "telegram", "enabled": False, "allowedAgents": [a["id"]],
                                   "config": {"telegram": {"botToken": tg.token, "apiBaseUrl": tg.url}}})
        page.reload()
        nav(page, "clients")
        page.get_by_test_id("client-test-Bot to test").click()
        expect(page.locator(".toast")).to_contain_text("Token OK: @ui_test_bot")
        shot(page, artifacts, "clients-page", full=False)
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_webhook_client_shows_the_url_to_post_to(page: Page, server: ServerProcess,
                                                 fakes: dict[str, FakeServer]) -> None:
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
    b = api.post("/backends", json={"name": "Hook backend", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    api.post("/agents", json={"name": "Hook agent", "llm": {"backend": b["id"], "model": "alpha-chat"}})

    signed_in(page, server)
    nav(page, "clients")
    page.get_by_role("button", name="New client").first.click()
    dlg = page.get_by_test_id("client-dialog")
    dlg.get_by_label("Name").first.fill("CI hook")
    dlg.get_by_test_id("client-type").select_option("webhook")
    dlg.get_by_text("Hook agent").click()
    dlg.get_by_test_id("client-config-webhook").get_by_label("Passthrough").check(force=True)  # a switch: its thumb covers the box
    dlg.get_by_role("button", name="Create").click()

    # the token dialog says where and what to POST; what it shows works as shown
    tok = page.get_by_test_id("token-dialog")
    expect(tok).to_contain_text('POST {"prompt": "…"} to this webhook URL')
    c = next(x for x in api.get("/clients").json() if x["name"] == "CI hook")
    url = f"{server.user_url}/api/v1/webhooks/{c['id']}"
    expect(tok.get_by_test_id("webhook-url")).to_have_text(url)
    token = tok.get_by_test_id("client-token").inner_text()
    expect(tok.get_by_test_id("webhook-curl")).to_contain_text(f"curl -X POST {url}")
    expect(tok.get_by_test_id("webhook-curl")).to_contain_text(f"Authorization: Bearer {token}")
    r = httpx.post(url, headers={"Authorization": f"Bearer {token}"}, json={"prompt": "hi from ci"}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and "alpha says: hi from ci" in r.json()["response"]
    tok.get_by_role("button", name="Done").click()

    # the card keeps showing it (the token is shown once, the URL always)
    expect(page.get_by_test_id("webhook-url-CI hook")).to_have_text(f"POST {url}")
    # ... all of it inside the card (a URL has no spaces to wrap at: it ran out of the card, under the next)
    inside = page.get_by_test_id("webhook-url-CI hook").evaluate(
        "(el) => { const c = el.closest('article').getBoundingClientRect(), r = el.getBoundingClientRect();"
        " return el.scrollWidth <= el.clientWidth && r.right <= c.right; }")
    assert inside, "the webhook URL overflows its card"
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_signed_webhook_client_shows_a_curl_line_that_signs(page: Page, server: ServerProcess,
                                                             fakes: dict[str, FakeServer]) -> None:
    """With a signing secret the token alone is a 401: the lines the token dialog shows sign the
    body, and work as shown once SIGNING_SECRET is set."""
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
    b = api.post("/backends", json={"name": "Signed backend", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    api.post("/agents", json={"name": "Signed agent", "llm": {"backend": b["id"], "model": "alpha-chat"}})

    signed_in(page, server)
    nav(page, "clients")
    page.get_by_role("button", name="New client").first.click()
    dlg = page.get_by_test_id("client-dialog")
    dlg.get_by_label("Name").first.fill("Signed hook")
    dlg.get_by_test_id("client-type").select_option("webhook")
    dlg.get_by_text("Signed agent").click()
    form = dlg.get_by_test_id("client-config-webhook")
    form.get_by_label("Passthrough").check(force=True)
    form.get_by_label("Signing Secret").fill("hook-s3cret")
    dlg.get_by_role("button", name="Create").click()

    tok = page.get_by_test_id("token-dialog")
    expect(tok.get_by_test_id("webhook-signed")).to_contain_text("X-Magec-Signature")
    expect(tok.get_by_test_id("webhook-signed")).to_contain_text("X-Magec-Timestamp")
    lines = tok.get_by_test_id("webhook-curl").inner_text()
    run = subprocess.run(["bash", "-c", lines + " -sS -w '\\n%{http_code}'"], capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin", "SIGNING_SECRET": "hook-s3cret"})
    body, status = run.stdout.rsplit("\n", 1)
    assert status == "200", (run.stdout, run.stderr)
    assert json.loads(body)["response"] == "alpha says: Hello"
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_direct_client_token_dialog_says_where_to_pair_a_phone(page: Page, server: ServerProcess,
                                                               fakes: dict[str, FakeServer]) -> None:
    """A direct client is how a phone pairs with the Voice UI: the token dialog says where it is,
    and the link with the token shown pairs a device."""
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
    b = api.post("/backends", json={"name": "Phone backend", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    api.post("/agents", json={"name": "Phone agent", "llm": {"backend": b["id"], "model": "alpha-chat"}})

    signed_in(page, server)
    nav(page, "clients")
    page.get_by_role("button", name="New client").first.click()
    dlg = page.get_by_test_id("client-dialog")
    dlg.get_by_label("Name").first.fill("Kitchen phone")
    # nothing picked yet: a client that can run nothing (an empty /v1 model list, every turn
    # refused) is said before it is created, not only on its card afterwards
    expect(dlg.get_by_test_id("no-agents-hint")).to_contain_text("None picked: this client can run nothing")
    dlg.get_by_text("Phone agent").click()
    expect(dlg.get_by_test_id("no-agents-hint")).to_have_count(0)
    expect(dlg).to_contain_text("The first one is the default.")
    dlg.get_by_role("button", name="Create").click()
    tok = page.get_by_test_id("token-dialog")
    link = tok.get_by_test_id("voice-ui-url")
    expect(link).to_have_text(f"{server.user_url}/")
    token = tok.get_by_test_id("client-token").inner_text()

    phone = page.context.new_page()
    phone.goto(link.get_attribute("href") or "")
    phone.get_by_test_id("token").fill(token)
    phone.get_by_test_id("pair").click()
    expect(phone.get_by_test_id("agent").locator("option:checked")).to_have_text("Phone agent")
    phone.close()
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_disabled_cron_client_card_says_disabled_not_error(page: Page, server: ServerProcess) -> None:
    """A job that failed and was then disabled shows ``disabled`` on its card at once; its last
    error is still there, as history (not in the error colour)."""
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
    cmd = api.post("/commands", json={"name": "Failing", "prompt": "Fail"}).json()
    c = api.post("/clients", json={"name": "Failing job", "type": "cron", "allowedAgents": [],
                                   "config": {"cron": {"schedule": "@every 1s", "commandId": cmd["id"]}}}).json()
    deadline = time.monotonic() + 20
    while not (api.get(f"/clients/{c['id']}").json()["status"] or {}).get("lastError"):
        assert time.monotonic() < deadline, "the job never failed"
        time.sleep(0.2)
    assert api.put(f"/clients/{c['id']}", json={**c, "enabled": False}).status_code == 200

    signed_in(page, server)
    nav(page, "clients")
    card = page.get_by_test_id("client-status-Failing job")
    expect(card.locator(".badge").first).to_have_text("disabled")
    expect(card.get_by_test_id("client-last-error")).to_contain_text("Last error: ")
    expect(card.get_by_test_id("client-last-error")).to_contain_text("no allowed agents")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_cron_client_without_agents_card_says_it_cannot_run(page: Page, server: ServerProcess) -> None:
    """Saved without allowed agents (allowed, as in Magec), a job's card says it cannot run before
    its first run fails."""
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
    cmd = api.post("/commands", json={"name": "Orphan", "prompt": "Nobody runs me"}).json()
    r = api.post("/clients", json={"name": "Agentless job", "type": "cron", "allowedAgents": [],
                                   "config": {"cron": {"schedule": "@daily", "commandId": cmd["id"]}}})
    assert r.status_code in (200, 201), r.text

    signed_in(page, server)
    nav(page, "clients")
    warning = page.get_by_test_id("client-warning-Agentless job")
    expect(warning).to_contain_text("cannot run")
    expect(warning).to_contain_text("no allowed agents")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_a_webhook_without_command_says_so_at_the_command(page: Page, server: ServerProcess,
                                                          fakes: dict[str, FakeServer]) -> None:
    """A webhook with neither passthrough nor a command is refused (400 naming
    ``config.webhook.commandId``): the message sits under the Command select, which is focused and
    marked invalid (its label, "Command", did not match the path's "commandId": the message was only
    at the bottom of the dialog, under a dozen fields). Picking a command clears it and saves."""
    api, _, cmd = _agent_and_command(server, fakes, "Cmd", "Summarise build", "Summarise the build log")
    dlg = _new_client_dialog(page, server, "Build hook", "webhook", "Cmd agent")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg.get_by_role("alert")).to_contain_text("config.webhook.commandId")
    command = dlg.get_by_test_id("client-config-webhook").get_by_label("Command", exact=True)
    err = command.locator("xpath=..").locator("[data-field-error]")
    expect(err).to_contain_text("is required unless passthrough is true")
    expect(command).to_have_attribute("aria-invalid", "true")
    expect(command).to_be_focused()
    command.select_option(cmd["id"])
    dlg.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("token-dialog")).to_be_visible()
    c = next(x for x in api.get("/clients").json() if x["name"] == "Build hook")
    assert c["config"]["webhook"]["commandId"] == cmd["id"]


def test_cron_and_bot_token_dialogs_say_what_the_token_is_for(page: Page, server: ServerProcess,
                                                              fakes: dict[str, FakeServer]) -> None:
    """A cron client runs itself and a bot is reached on its platform: their token dialog says the
    token is not needed for that (it told them to send it to the run API), and what it does do —
    a client token on the user API, limited to the client's agents — holds as written."""
    api, a, cmd = _agent_and_command(server, fakes, "Nightly", "Nightly report", "Summarise the day")
    dlg = _new_client_dialog(page, server, "Nightly report", "cron", "Nightly agent")
    _create_cron(dlg, "0 6 * * *", cmd["id"])
    tok = page.get_by_test_id("token-dialog")
    use = tok.get_by_test_id("token-use")
    expect(use).to_contain_text("Nothing needs this token for the schedule")
    expect(use).not_to_contain_text("send it")
    expect(tok.get_by_test_id("voice-ui-hint")).to_have_count(0)
    token = tok.get_by_test_id("client-token").inner_text()
    tok.get_by_role("button", name="Done").click()
    # what the dialog says it does: a client token on the user API, only this client's agents
    models = httpx.get(server.user_url + "/v1/models", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert models.status_code == 200, models.text
    assert len(models.json()["data"]) == 1  # the module's server has other agents: only this one

    with TelegramFake("424243:family-token", username="family_bot") as tg:
        page.get_by_role("button", name="New client").first.click()
        dlg = page.get_by_test_id("client-dialog")
        dlg.get_by_label("Name").first.fill("Family bot")
        dlg.get_by_test_id("client-type").select_option("telegram")
        dlg.get_by_role("button", name="Nightly agent").click()
        form = dlg.get_by_test_id("client-config-telegram")
        form.get_by_label("Bot Token").fill(tg.token)
        form.get_by_label("Api Base Url").fill(tg.url)
        dlg.get_by_role("button", name="Create").click()
        use = page.get_by_test_id("token-dialog").get_by_test_id("token-use")
        expect(use).to_contain_text("The bot does not use this token: people talk to it in Telegram")
        api.delete(f"/clients/{next(c['id'] for c in api.get('/clients').json() if c['name'] == 'Family bot')}")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_a_bot_card_names_who_it_ignored(page: Page, server: ServerProcess, fakes: dict[str, FakeServer]) -> None:
    """Journey 9: grandma writes to the family bot and gets nothing (she is not in allowedUsers,
    which takes numeric ids no one knows). The card says whom the bot ignored, with the user id and
    chat to allow; before, only the server log did."""
    api, a, _ = _agent_and_command(server, fakes, "Family", "Family unused", "unused")
    with TelegramFake("424244:family-token", username="family_home_bot") as tg:
        c = api.post("/clients", json={"name": "Home bot", "type": "telegram", "allowedAgents": [a["id"]],
                                       "config": {"telegram": {"botToken": tg.token, "apiBaseUrl": tg.url,
                                                               "allowedUsers": [7]}}}).json()
        tg.send_text(chat_id=7, user_id=7, text="hello")
        tg.wait_sent(7, "sendMessage")  # the bot runs and answers the allowed user
        tg.send_text(chat_id=99, user_id=99, text="hello? is this on?", username="grandma")
        deadline = time.monotonic() + 20
        while not (api.get(f"/clients/{c['id']}").json()["status"] or {}).get("lastIgnored"):
            assert time.monotonic() < deadline, "the ignored message never showed in the client's status"
            time.sleep(0.2)
        ignored = api.get(f"/clients/{c['id']}").json()["status"]["lastIgnored"]
        assert {k: ignored[k] for k in ("userId", "chatId", "name")} == {"userId": "99", "chatId": "99", "name": "@grandma"}
        assert tg.sent_to(99) == []  # still ignored: the allow-list is the admin's to change
        signed_in(page, server)
        nav(page, "clients")
        line = page.get_by_test_id("client-status-Home bot").get_by_test_id("client-last-ignored")
        expect(line).to_contain_text("Ignored @grandma (user id 99, chat 99)")
        api.delete(f"/clients/{c['id']}")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_a_webhook_clients_calls_and_failures_are_one_click_from_its_card(page: Page, server: ServerProcess,
                                                                          fakes: dict[str, FakeServer]) -> None:
    """A CI job calls the webhook; one call fails at the provider. The card showed the URL and
    nothing of what was called: a webhook has no status, and finding its runs meant knowing the
    Conversations page and picking the client there."""
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
    b = api.post("/backends", json={"name": "Nightly backend", "type": "openai", "url": fakes["alpha"].url + "/v1",
                                    "maxAttempts": 1}).json()
    a = api.post("/agents", json={"name": "Nightly agent", "llm": {"backend": b["id"], "model": "alpha-chat"}}).json()
    c = api.post("/clients", json={"name": "Nightly CI", "type": "webhook", "allowedAgents": [a["id"]],
                                   "config": {"webhook": {"passthrough": True}}}).json()
    hook = httpx.Client(base_url=server.user_url, headers={"Authorization": f"Bearer {c['token']}"}, timeout=60)
    assert hook.post(f"/api/v1/webhooks/{c['id']}", json={"prompt": "build 41 passed"}).json()["ok"] is True
    fakes["alpha"].script(Reply.fail(500, "upstream exploded"), route="chat")
    failed = hook.post(f"/api/v1/webhooks/{c['id']}", json={"prompt": "build 42 failed"})
    assert failed.status_code == 500 and "upstream exploded" in failed.json()["error"], failed.text
    # the audit is written off the request path: wait until the Admin API lists both calls
    deadline = time.monotonic() + 30
    while api.get("/conversations", params={"clientId": c["id"], "perspective": "user"}).json()["total"] < 2:
        assert time.monotonic() < deadline, "the webhook calls were not recorded"
        time.sleep(0.2)

    signed_in(page, server)
    nav(page, "clients")
    page.get_by_test_id("client-conversations-Nightly CI").click()
    expect(page.get_by_test_id("conversations-page")).to_be_visible()
    expect(page.get_by_test_id("filter-client")).to_have_value(c["id"])
    rows = page.get_by_test_id("conversation-list").locator("tbody tr")
    expect(rows).to_have_count(2)
    failing = rows.filter(has_text="build 42 failed")
    expect(failing).to_contain_text("1 error")
    failing.click()
    expect(page.get_by_test_id("conversation-detail").locator(".bubble.error")).to_contain_text("upstream exploded")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_deleting_a_client_says_what_goes_with_it(page: Page, server: ServerProcess) -> None:
    """The delete dialog of a client says its conversations, memories and bot messages go with
    it (the server deletes them: a client restored with the same id starts without them), and
    what an operator keeps."""
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
    r = api.post("/clients", json={"name": "Leaving shop", "allowedAgents": []})
    assert r.status_code in (200, 201), r.text

    signed_in(page, server)
    nav(page, "clients")
    page.locator("article", has_text="Leaving shop").get_by_role("button", name="Delete", exact=True).click()
    goes = page.get_by_test_id("confirm-delete-goes")
    expect(goes).to_contain_text("conversations")
    expect(goes).to_contain_text("long-term memories")
    expect(goes).to_contain_text("unanswered bot messages")
    expect(goes).to_contain_text("usage and costs and the conversation log stay")
    page.get_by_test_id("confirm-delete-btn").click()
    expect(page.get_by_test_id("confirm-delete")).to_be_hidden()
    assert api.get(f"/clients/{r.json()['id']}").status_code == 404
    assert page.js_errors == []  # type: ignore[attr-defined]
