"""Client types over the Admin API: Magec's schemas, config validated on save (400 naming the
field), bot tokens and signing secrets write-only and encrypted, unknown fields kept, and the
platform token tests against loopback fakes of Telegram, Slack and Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from magec.clients.types import SENSITIVE, TYPES
from magec.resources import Client
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_platforms import TelegramFake
from magec.testing.fake_providers import FakeServer
from tests.clients.helpers import A, command

TG_TOKEN = "123456:TEST-fake-telegram-token"
SLACK_TOKEN = "xoxb-slack-test-token-1234"
DISCORD_TOKEN = "MTIz.discord-test-token.abcd"


@pytest.fixture
async def apps(tmp_path: Path) -> AsyncIterator[Apps]:
    async with running_apps(tmp_path / "data") as a:
        yield a


async def _create(apps: Apps, ctype: str, config: dict[str, Any], **extra: Any) -> Any:
    return await apps.admin.post(f"{A}/clients", json={"name": f"{ctype} client", "type": ctype, "config": config,
                                                       **extra})


async def test_types_endpoint_has_magec_schemas(apps: Apps) -> None:
    r = await apps.admin.get(f"{A}/clients/types")
    assert r.status_code == 200, r.text
    types = {t["type"]: t for t in r.json()}
    assert list(types) == sorted(["direct", "telegram", "slack", "discord", "webhook", "cron"])
    assert types["telegram"]["displayName"] == "Telegram"
    tg = types["telegram"]["configSchema"]
    assert tg["required"] == ["botToken"] and tg["properties"]["botToken"]["x-format"] == "password"
    assert tg["properties"]["responseMode"]["enum"] == ["text", "voice", "mirror", "both"]
    assert len(types["webhook"]["configSchema"]["oneOf"]) == 2
    assert types["cron"]["configSchema"]["properties"]["commandId"]["x-entity"] == "commands"
    assert types["slack"]["configSchema"]["required"] == ["botToken", "appToken"]
    assert types["direct"]["configSchema"] == {"type": "object", "properties": {}}


async def test_default_agent_hint_names_each_platforms_command(apps: Apps) -> None:
    """The form shows a schema's description under its field: Magec's said a user's "!agent <id>"
    updates the default agent, but a switch is the conversation's own and Telegram's command is
    /agent. Each bot type says its command and that the setting stays."""
    types = {t["type"]: t for t in (await apps.admin.get(f"{A}/clients/types")).json()}
    for ctype, switch in (("telegram", "/agent <id or name>"), ("slack", "!agent <id or name>"),
                          ("discord", "!agent <id or name>")):
        hint = types[ctype]["configSchema"]["properties"]["defaultAgent"]["description"]
        assert switch in hint and "Automatically updated" not in hint, (ctype, hint)


async def test_a_telegram_username_for_an_id_is_explained(apps: Apps) -> None:
    """People paste @usernames into Telegram's "Allowed Users": the 400 said "'@bob' is not of type
    'integer'"; it says a numeric id is needed and why (the UI shows it under the field)."""
    r = await _create(apps, "telegram", {"telegram": {"botToken": "1:x", "allowedUsers": [7, "@bob"]}})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "config.telegram.allowedUsers[1]"
    assert r.json()["error"] == ("config.telegram.allowedUsers[1]: must be a numeric id, not '@bob' "
                                 "(Telegram ids are numbers, not @usernames)")


def test_sensitive_paths_match_password_fields() -> None:
    assert set(SENSITIVE) == set(Client.sensitive)
    assert all(p.split(".")[1] in TYPES for p in SENSITIVE)


@pytest.mark.parametrize(
    ("ctype", "config", "field"),
    [
        ("cron", {"cron": {"schedule": "not a cron", "commandId": "CMD"}}, "config.cron.schedule"),
        ("cron", {"cron": {"schedule": "61 * * * *", "commandId": "CMD"}}, "config.cron.schedule"),
        ("cron", {"cron": {"schedule": "@sometimes", "commandId": "CMD"}}, "config.cron.schedule"),
        ("cron", {"cron": {"schedule": "@every 99999999999999999999h", "commandId": "CMD"}}, "config.cron.schedule"),
        ("cron", {"cron": {"schedule": "@every 87601h", "commandId": "CMD"}}, "config.cron.schedule"),
        ("cron", {"cron": {"schedule": "0 9 * * *"}}, "config.cron.commandId"),
        ("cron", {"cron": {"schedule": "0 9 * * *", "commandId": "CMD", "timezone": "Mars/Base"}},
         "config.cron.timezone"),
        ("webhook", {"webhook": {"passthrough": True, "commandId": "CMD"}}, "config.webhook.commandId"),
        ("webhook", {"webhook": {}}, "config.webhook.commandId"),
        ("telegram", {"telegram": {}}, "config.telegram.botToken"),
        ("telegram", {"telegram": {"botToken": ""}}, "config.telegram.botToken"),
        ("telegram", {"telegram": {"botToken": "1:x", "allowedUsers": ["abc"]}}, "config.telegram.allowedUsers[0]"),
        ("telegram", {"telegram": {"botToken": "1:x", "responseMode": "loud"}}, "config.telegram.responseMode"),
        # a single id where a list is meant is refused on save (the bots read it as that one id)
        ("telegram", {"telegram": {"botToken": "1:x", "allowedUsers": 12345}}, "config.telegram.allowedUsers"),
        ("slack", {"slack": {"botToken": "x", "appToken": "y", "allowedChannels": "C1"}}, "config.slack.allowedChannels"),
        ("slack", {"slack": {"botToken": "xoxb-1"}}, "config.slack.appToken"),
        ("discord", {"discord": {"botToken": "t", "threadHistoryLimit": 500}}, "config.discord.threadHistoryLimit"),
        ("telegram", {"telegram": "token"}, "config.telegram"),
    ],
)
async def test_invalid_config_is_a_400_naming_the_field(apps: Apps, ctype: str, config: dict[str, Any],
                                                        field: str) -> None:
    cmd = await command(apps, "Say hi")
    config = {k: ({**v, "commandId": cmd} if isinstance(v, dict) and v.get("commandId") == "CMD" else v)
              for k, v in config.items()}
    r = await _create(apps, ctype, config)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body.get("field") == field, body
    assert field in str(body)
    # on update an empty or absent token keeps the stored one (write-only; docs/admin-api.md): valid
    keeps_stored = config in ({"telegram": {"botToken": ""}}, {"telegram": {}}, {"slack": {"botToken": "xoxb-1"}})
    # the same rule on update
    ok = {"cron": {"cron": {"schedule": "0 9 * * *", "commandId": cmd}},
          "webhook": {"webhook": {"passthrough": True}},
          "telegram": {"telegram": {"botToken": "1:x"}},
          "slack": {"slack": {"botToken": "xoxb-1", "appToken": "xapp-1"}},
          "discord": {"discord": {"botToken": "t"}}}[ctype]
    created = await _create(apps, ctype, ok)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    r = await apps.admin.put(f"{A}/clients/{cid}", json={"name": "x", "type": ctype, "config": config})
    if keeps_stored:
        token = field.rsplit(".", 1)[1]
        assert r.status_code == 200 and r.json()["config"][ctype][f"{token}Set"] is True, r.text
        return
    assert r.status_code == 400 and r.json().get("field") == field, r.text


async def test_every_interval_is_bounded_at_save(apps: Apps) -> None:
    # an interval past what the scheduler's dates hold was stored, then the cron worker failed with
    # OverflowError on every restart: it is refused at save, with the bound in the message
    cmd = await command(apps, "Say hi")
    r = await _create(apps, "cron", {"cron": {"schedule": "@every 99999999999999999999h", "commandId": cmd}})
    assert r.status_code == 400 and r.json()["field"] == "config.cron.schedule", r.text
    assert "at most 87600h (10 years)" in r.json()["error"]
    r = await _create(apps, "cron", {"cron": {"schedule": "@every 87600h", "commandId": cmd}})
    assert r.status_code == 201, r.text
    view = (await apps.admin.get(f"{A}/clients/{r.json()['id']}")).json()
    assert view["status"]["nextRun"], view


async def test_valid_configs_and_unknown_fields_are_kept(apps: Apps) -> None:
    cmd = await command(apps, "Report")
    r = await _create(apps, "webhook", {"webhook": {"commandId": cmd, "passthrough": False}})
    assert r.status_code == 201, r.text
    r = await _create(apps, "webhook", {"webhook": {"passthrough": True, "commandId": ""}})
    assert r.status_code == 201, r.text
    r = await _create(apps, "cron", {"cron": {"schedule": "@daily", "commandId": cmd, "timezone": "Europe/Madrid"}})
    assert r.status_code == 201, r.text
    config = {"telegram": {"botToken": "1:secret-token-value", "allowedUsers": [1, 2], "allowedChats": [-100],
                           "responseMode": "mirror", "futureField": {"a": 1}},
              "slack": {"note": "another type's section is kept too"}}
    r = await _create(apps, "telegram", config)
    assert r.status_code == 201, r.text
    got = (await apps.admin.get(f"{A}/clients/{r.json()['id']}")).json()
    tg = got["config"]["telegram"]
    assert tg["futureField"] == {"a": 1} and tg["allowedUsers"] == [1, 2] and tg["responseMode"] == "mirror"
    assert got["config"]["slack"] == {"note": "another type's section is kept too"}


async def test_bot_tokens_are_write_only_and_encrypted(apps: Apps) -> None:
    secret = "987654:very-secret-bot-token"
    r = await _create(apps, "telegram", {"telegram": {"botToken": secret, "allowedUsers": [5]}})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert secret not in r.text
    for resp in (await apps.admin.get(f"{A}/clients/{cid}"), await apps.admin.get(f"{A}/clients")):
        assert resp.status_code == 200 and secret not in resp.text
    view = (await apps.admin.get(f"{A}/clients/{cid}")).json()
    assert view["config"]["telegram"]["botToken"] == ""
    assert view["config"]["telegram"].get("botTokenSet") is True
    raw = await apps.ctx.store.get("clients", cid)
    assert raw["config"]["telegram"]["botToken"].startswith("enc:")
    # saving the view back (token blank) keeps the stored token
    view["config"]["telegram"]["allowedUsers"] = [5, 6]
    r = await apps.admin.put(f"{A}/clients/{cid}", json=view)
    assert r.status_code == 200, r.text
    raw2 = await apps.ctx.store.get("clients", cid)
    assert raw2["config"]["telegram"]["botToken"] == raw["config"]["telegram"]["botToken"]
    snap = await apps.ctx.store.snapshot()
    assert snap.clients[cid].config["telegram"]["botToken"] == secret
    # a kept token is never redirected to another API server
    view["config"]["telegram"]["apiBaseUrl"] = "http://evil.example"
    r = await apps.admin.put(f"{A}/clients/{cid}", json=view)
    assert r.status_code == 400 and r.json()["field"] == "config.telegram.apiBaseUrl", r.text
    # webhook signing secrets too
    r = await _create(apps, "webhook", {"webhook": {"passthrough": True, "signingSecret": "hmac-key-123456"}})
    assert r.status_code == 201 and "hmac-key-123456" not in r.text
    assert r.json()["config"]["webhook"]["signingSecretSet"] is True


@pytest.fixture(scope="module")
def telegram() -> Iterator[TelegramFake]:
    with TelegramFake(TG_TOKEN, username="magec_test_bot") as tg:
        yield tg


def _slack_discord() -> Starlette:
    async def auth_test(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {SLACK_TOKEN}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        return JSONResponse({"ok": True, "user": "magecbot", "user_id": "U0BOT", "team": "Team"})

    async def me(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bot {DISCORD_TOKEN}":
            return JSONResponse({"message": "401: Unauthorized", "code": 0}, status_code=401)
        return JSONResponse({"id": "555", "username": "magec-discord"})

    return Starlette(routes=[Route("/slack/api/auth.test", auth_test, methods=["POST"]),
                             Route("/discord/api/v10/users/@me", me)])


@pytest.fixture(scope="module")
def platforms() -> Iterator[FakeServer]:
    with FakeServer(_slack_discord()) as s:
        yield s


async def test_token_tests_report_the_bot_identity(apps: Apps, telegram: TelegramFake,
                                                   platforms: FakeServer) -> None:
    tg = (await _create(apps, "telegram", {"telegram": {"botToken": TG_TOKEN, "apiBaseUrl": telegram.url}})).json()
    r = await apps.admin.post(f"{A}/clients/{tg['id']}/telegram-test")
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["identity"] == "@magec_test_bot"
    bad = (await _create(apps, "telegram", {"telegram": {"botToken": "999:wrong-token-xyz",
                                                         "apiBaseUrl": telegram.url}})).json()
    r = await apps.admin.post(f"{A}/clients/{bad['id']}/telegram-test")
    assert r.status_code == 200 and r.json()["ok"] is False and "wrong-token-xyz" not in r.text

    slack = (await _create(apps, "slack", {"slack": {"botToken": SLACK_TOKEN, "appToken": "xapp-1",
                                                     "apiBaseUrl": platforms.url + "/slack/api"}})).json()
    r = await apps.admin.post(f"{A}/clients/{slack['id']}/slack-test")
    assert r.json() == {"ok": True, "identity": "@magecbot", "id": "U0BOT", "name": "magecbot", "team": "Team"}
    discord = (await _create(apps, "discord", {"discord": {"botToken": DISCORD_TOKEN,
                                                           "apiBaseUrl": platforms.url + "/discord/api/v10"}})).json()
    r = await apps.admin.post(f"{A}/clients/{discord['id']}/discord-test")
    assert r.json()["ok"] is True and r.json()["identity"] == "@magec-discord"
    wrong = (await _create(apps, "discord", {"discord": {"botToken": "nope-token",
                                                         "apiBaseUrl": platforms.url + "/discord/api/v10"}})).json()
    r = await apps.admin.post(f"{A}/clients/{wrong['id']}/discord-test")
    assert r.json()["ok"] is False and "401" in r.json()["error"]
    # wrong type, unknown client, unreachable platform
    r = await apps.admin.post(f"{A}/clients/{slack['id']}/telegram-test")
    assert r.status_code == 400 and r.json()["field"] == "type"
    assert (await apps.admin.post(f"{A}/clients/nope/telegram-test")).status_code == 404
    down = (await _create(apps, "telegram", {"telegram": {"botToken": TG_TOKEN,
                                                          "apiBaseUrl": "http://127.0.0.1:9"}})).json()
    r = await apps.admin.post(f"{A}/clients/{down['id']}/telegram-test")
    assert r.json()["ok"] is False and TG_TOKEN not in r.text


async def test_status_is_null_for_direct_and_webhook(apps: Apps) -> None:
    r = await _create(apps, "direct", {})
    assert (await apps.admin.get(f"{A}/clients/{r.json()['id']}")).json()["status"] is None


async def test_client_that_cannot_run_says_so_before_it_fails(apps: Apps) -> None:
    """A cron job with no allowed agents is saved (Magec does) but says at once, in every view,
    that it cannot run; naming an agent clears the warning."""
    cmd = await command(apps, "nightly")
    r = await _create(apps, "cron", {"cron": {"schedule": "@daily", "commandId": cmd}}, allowedAgents=[])
    assert r.status_code in (200, 201), r.text
    c = r.json()
    assert len(c["warnings"]) == 1 and "no allowed agents: it cannot run" in c["warnings"][0]
    one = (await apps.admin.get(f"{A}/clients/{c['id']}")).json()
    listed = next(x for x in (await apps.admin.get(f"{A}/clients")).json() if x["id"] == c["id"])
    assert one["warnings"] == listed["warnings"] == c["warnings"]

    b = await apps.admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": "http://127.0.0.1:9"})
    a = await apps.admin.post(f"{A}/agents", json={"name": "Nightly agent",
                                                  "llm": {"backend": b.json()["id"], "model": "m"}})
    r = await apps.admin.put(f"{A}/clients/{c['id']}", json={**one, "allowedAgents": [a.json()["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == []
    assert (await apps.admin.get(f"{A}/clients/{c['id']}")).json()["warnings"] == []
    # any type: a direct client without agents is refused every turn too
    r = await _create(apps, "direct", {}, allowedAgents=[])
    assert "no allowed agents" in r.json()["warnings"][0]
