"""Importing Magec's example seed (``data/seeds/examples.json``, vendored) plus Magec-shaped bot and
cron clients loses no client field: every field reads back through the Admin API (secrets as
write-only ``…Set`` flags, encrypted at rest), saving a client's view back keeps everything, and
the seed's client tokens keep working."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magec.clients.types import TYPES
from magec.importer import import_store
from magec.testing.apps import running_apps
from tests.clients.helpers import A

DATA = Path(__file__).parent / "data"


def _seed() -> dict[str, Any]:
    seed = json.loads((DATA / "magec-examples.json").read_text())
    extra = json.loads((DATA / "magec-bot-clients.json").read_text())
    seed["commands"] = [*seed.get("commands", []), *extra["commands"]]
    seed["clients"] = [*seed["clients"], *extra["clients"]]
    return seed


def _passwords(ctype: str) -> set[str]:
    props = TYPES[ctype].config_schema.get("properties", {})
    return {k for k, p in props.items() if p.get("x-format") == "password"}


def expected_view(client: dict[str, Any]) -> dict[str, Any]:
    """What the Admin API shows for a Magec client: secrets blanked with a ``…Set`` flag."""
    config = json.loads(json.dumps(client.get("config") or {}))
    section = config.get(client["type"])
    if isinstance(section, dict):
        for key in _passwords(client["type"]):
            if section.get(key):
                section[key] = ""
                section[key + "Set"] = True
    return config


async def test_magec_seed_clients_keep_every_field(tmp_path: Path) -> None:
    seed = _seed()
    async with running_apps(tmp_path / "data") as apps:
        counts = await import_store(apps.ctx.store, seed)
        assert counts["clients"] == len(seed["clients"]) == 8
        for original in seed["clients"]:
            r = await apps.admin.get(f"{A}/clients/{original['id']}")
            assert r.status_code == 200, r.text
            view = r.json()
            for key in ("name", "type", "allowedAgents", "enabled"):
                assert view[key] == original[key], (original["name"], key)
            assert view["config"] == expected_view(original), original["name"]
            # a view carries the token's preview as ``token`` (Magec's UI reads it), never the token
            assert view["token"] == view["tokenPreview"] and original["token"] not in r.text
            for secret in (v for v in (original["config"].get(original["type"]) or {}).values()
                           if isinstance(v, str) and v.startswith(("123456:", "xoxb-", "xapp-", "MTIz"))):
                assert secret not in r.text
                raw = json.dumps(await apps.ctx.store.get("clients", original["id"]))
                assert secret not in raw  # encrypted at rest

            # saving the view back as the UI does (secret flags dropped) changes nothing
            body = {k: view[k] for k in ("name", "type", "allowedAgents", "enabled")}
            body["config"] = json.loads(json.dumps(view["config"]))
            section = body["config"].get(view["type"])
            if isinstance(section, dict):
                for key in _passwords(view["type"]):
                    section.pop(key + "Set", None)
            before = await apps.ctx.store.get("clients", original["id"])
            r = await apps.admin.put(f"{A}/clients/{original['id']}", json=body)
            assert r.status_code == 200, (original["name"], r.text)
            after = await apps.ctx.store.get("clients", original["id"])
            assert after["config"] == before["config"], original["name"]
            assert after["tokenHash"] == before["tokenHash"]

        # the decrypted snapshot still has Magec's tokens and every field
        snap = await apps.ctx.store.snapshot()
        tg = snap.clients["c0000000-0000-0000-0000-0000000000b1"].config["telegram"]
        assert tg["botToken"] == "123456:AAAA-magec-seed-telegram-token"
        assert tg["futureOption"] == {"nested": [1, "two"]}
        assert tg["allowedChatThreads"] == [{"chatId": -1001234567890, "threadId": 7}, {"chatId": -1009}]
        # Magec's client token still authenticates (stored as its hash): past auth, the empty
        # passthrough body is the 400 (no model is called)
        url = "/api/v1/webhooks/c0000000-0000-0000-0000-000000000002"
        r = await apps.user.post(url, json={}, headers={"Authorization": "Bearer mgc_seed_softwarefactory_token"})
        assert r.status_code == 400 and r.json()["field"] == "prompt", r.text
        r = await apps.user.post(url, json={}, headers={"Authorization": "Bearer mgc_seed_research_token"})
        assert r.status_code == 401
