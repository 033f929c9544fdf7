"""The Telegram webhook route as a stranger probes it: without the secret Telegram was given, every
client id answers the same, so nobody can map which ids are enabled Telegram bots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from magec.clients.telegram import webhook_secret
from magec.testing.apps import Apps, running_apps
from tests.clients.helpers import client

HOOK = "/api/v1/hooks/telegram"
UPDATE = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"},
                                      "from": {"id": 5, "is_bot": False, "first_name": "M"}, "text": "hi"}}


@pytest.fixture
async def apps(tmp_path: Path) -> AsyncIterator[Apps]:
    # no bot workers: only the route's verdicts matter here
    async with running_apps(tmp_path / "data", start_clients=False) as a:
        yield a


async def test_without_the_secret_every_id_answers_the_same(apps: Apps) -> None:
    token = "123456:TEST-token"
    bot = await client(apps, "telegram", [], {"telegram": {"botToken": token, "apiBaseUrl": "http://127.0.0.1:9"}})
    off = await client(apps, "telegram", [], {"telegram": {"botToken": token, "apiBaseUrl": "http://127.0.0.1:9"}},
                       enabled=False)
    direct = await client(apps, "direct", [])
    answers = set()
    for cid in (bot["id"], off["id"], direct["id"], "no-such-client"):
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"},
                        # the secret of another bot is no better than a guess
                        {"X-Telegram-Bot-Api-Secret-Token": webhook_secret(token, "elsewhere")}):
            r = await apps.user.post(f"{HOOK}/{cid}", json=UPDATE, headers=headers)
            answers.add((r.status_code, r.content))
    assert len(answers) == 1, answers
    assert next(iter(answers))[0] == 401
    # Telegram (who holds the secret) still learns that the client is disabled
    r = await apps.user.post(f"{HOOK}/{off['id']}", json=UPDATE,
                             headers={"X-Telegram-Bot-Api-Secret-Token": webhook_secret(token, off["id"])})
    assert r.status_code == 404
    r = await apps.user.post(f"{HOOK}/{bot['id']}", json=UPDATE,
                             headers={"X-Telegram-Bot-Api-Secret-Token": webhook_secret(token, bot["id"])})
    assert r.status_code != 401
