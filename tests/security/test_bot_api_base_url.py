"""Hostile reader: credentials in a bot's ``apiBaseUrl``.

A bot's API root was stored and shown as typed: a proxy's ``https://user:pass@host`` in front of a
self-hosted Bot API server, or a token pasted into the path (Telegram's ``/bot<token>``), showed in
every GET of the client and in backups. The field is now a secret URL, like a backend's ``url``:
credentials in it are encrypted, shown as ``***`` and kept when the masked form comes back; a token
in its path is refused with a 400 naming the field (the token belongs in the write-only
``botToken``, which magec adds to each request)."""

from __future__ import annotations

import asyncio
import gzip
import time
from pathlib import Path

from magec.testing.apps import running_apps
from magec.testing.fake_platforms import TelegramFake

A = "/api/v1/admin"
PASSWORD = "proxy-pass-8c1f"
TG_TOKEN = "7654321098:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


async def test_credentials_in_api_base_url_are_secret(tmp_path: Path) -> None:
    with TelegramFake() as tg:
        host = tg.url.split("://", 1)[1]
        with_auth = f"http://proxyuser:{PASSWORD}@{host}"
        async with running_apps(tmp_path / "d") as apps:
            r = await apps.admin.post(f"{A}/clients", json={"name": "tg", "type": "telegram", "config": {
                "telegram": {"botToken": tg.token, "apiBaseUrl": with_auth}}})
            assert r.status_code in (200, 201), r.text
            cid = r.json()["id"]
            masked = f"http://proxyuser:***@{host}"
            for url in (f"{A}/clients/{cid}", f"{A}/clients"):
                r = await apps.admin.get(url)
                assert PASSWORD not in r.text, r.text
            view = (await apps.admin.get(f"{A}/clients/{cid}")).json()
            assert view["config"]["telegram"]["apiBaseUrl"] == masked
            archive = (await apps.admin.get(f"{A}/settings/backup")).content
            assert PASSWORD.encode() not in gzip.decompress(archive)
            # the bot and the token test still use the real URL
            r = await apps.admin.post(f"{A}/clients/{cid}/telegram-test")
            assert r.json()["ok"] is True, r.text
            deadline = time.monotonic() + 20
            while not (await apps.admin.get(f"{A}/clients/{cid}")).json()["status"]["connected"]:
                assert time.monotonic() < deadline, "the bot never connected through its API base"
                await asyncio.sleep(0.1)
            # the view sent back (as the Admin UI saves) keeps the stored URL
            r = await apps.admin.put(f"{A}/clients/{cid}", json={"name": "tg renamed", "type": "telegram",
                                                                 "config": view["config"]})
            assert r.status_code == 200, r.text
            assert (await apps.admin.post(f"{A}/clients/{cid}/telegram-test")).json()["ok"] is True


async def test_a_token_in_the_path_is_refused(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d") as apps:
        for ctype, config in (
            ("telegram", {"botToken": TG_TOKEN, "apiBaseUrl": f"https://api.telegram.org/bot{TG_TOKEN}"}),
            ("telegram", {"botToken": TG_TOKEN, "apiBaseUrl": f"https://tg.internal/{TG_TOKEN}/"}),
            ("slack", {"botToken": "xoxb-1-2-abc", "appToken": "xapp-1-A1-2-def",
                       "apiBaseUrl": "https://slack.internal/xoxb-1-2-abc/api"}),
            ("discord", {"botToken": "MTIzNDU2Nzg5.discord-secret", "apiBaseUrl":
                         "https://discord.internal/MTIzNDU2Nzg5.discord-secret/api/v10"}),
        ):
            r = await apps.admin.post(f"{A}/clients", json={"name": "b", "type": ctype, "config": {ctype: config}})
            assert r.status_code == 400, (ctype, r.text)
            assert r.json()["field"] == f"config.{ctype}.apiBaseUrl", r.json()
            assert config["botToken"] not in r.text
        assert (await apps.admin.get(f"{A}/clients")).json() == []
