"""Two real ``magec serve`` replicas on one PostgreSQL: each bot runs on exactly one of them (one
Telegram poller, one Discord Gateway session), both replicas' Admin APIs say where, and when that
replica is killed the other takes the bots over within the lease time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from magec.testing.fake_platforms import DiscordFake, TelegramFake
from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.lb import LoadBalancer
from magec.testing.server import ServerProcess
from tests.clients.helpers import client_status as _status
from tests.clients.helpers import until as _until

A = "/api/v1/admin"
TTL = 3.0


def test_one_replica_runs_each_bot_and_the_other_takes_over(tmp_path: Path, postgres: Any) -> None:
    url = postgres.url(postgres.create_database())
    env = {"MAGEC_CLIENT_LEASE_TTL": str(TTL)}
    with FakeServer(OpenAIFake("alpha")) as llm, TelegramFake() as tg, DiscordFake() as dc:
        one = ServerProcess(tmp_path / "one", database_url=url, env={**env, "MAGEC_REPLICA_ID": "replica-one"}).start()
        two = ServerProcess(tmp_path / "two", database_url=url, env={**env, "MAGEC_REPLICA_ID": "replica-two"}).start()
        try:
            with httpx.Client(timeout=30) as c:
                b = c.post(f"{one.admin_url}{A}/backends", json={"name": "L", "type": "openai", "url": llm.url}).json()
                agent = c.post(f"{one.admin_url}{A}/agents", json={"name": "Alpha",
                                                                   "llm": {"backend": b["id"], "model": "m"}}).json()
                t = c.post(f"{one.admin_url}{A}/clients", json={
                    "name": "tg", "type": "telegram", "allowedAgents": [agent["id"]],
                    "config": {"telegram": {"botToken": tg.token, "apiBaseUrl": tg.url}}}).json()
                d = c.post(f"{two.admin_url}{A}/clients", json={
                    "name": "dc", "type": "discord", "allowedAgents": [agent["id"]],
                    "config": {"discord": {"botToken": dc.token, "apiBaseUrl": dc.api_base}}}).json()

                owners = {}
                for cid in (t["id"], d["id"]):
                    owners[cid] = _until(lambda cid=cid: _status(c, one, cid).get("owner"), 20, "an owner")
                    _until(lambda cid=cid: any(_status(c, s, cid).get("connected") for s in (one, two)), 20,
                           "the bot connected")
                    views = [_status(c, one, cid), _status(c, two, cid)]
                    assert {v["owner"] for v in views} == {owners[cid]} and owners[cid] in ("replica-one", "replica-two")
                    assert sum(1 for v in views if v.get("running")) == 1

                tg.send_text(chat_id=91, user_id=91, text="first")
                tg.send_text(chat_id=91, user_id=91, text="second")
                assert [m.text for m in tg.wait_sent(91, "sendMessage", count=2)] == [
                    "alpha says: first", "alpha says: second"]
                dc.send_message("9100", "91", "hello", guild_id=None)
                assert dc.wait_sent("9100", "message")[0].text == "alpha says: hello"
                assert tg.max_active_polls == 1  # one poller for the bot across both replicas
                assert dc.connected == 1 and len(dc.identifies) == 1

                # kill the replica running the Telegram bot: the other one takes it over
                owner = owners[t["id"]]
                owner_srv, other = (one, two) if owner == "replica-one" else (two, one)
                owner_srv.kill()
                killed_at = time.monotonic()
                _until(lambda: _status(c, other, t["id"]).get("owner") != owner
                       and _status(c, other, t["id"]).get("connected"), TTL + 15, "the take-over")
                tg.send_text(chat_id=92, user_id=92, text="after the crash")
                assert tg.wait_sent(92, "sendMessage")[0].text == "alpha says: after the crash"
                assert time.monotonic() - killed_at < TTL + TTL / 3 + 15
                # the Discord bot runs on the surviving replica too (re-identified there if it moved)
                _until(lambda: _status(c, other, d["id"]).get("connected"), TTL + 15, "discord on the survivor")
                dc.wait_connected()
                dc.send_message("9200", "92", "still here?", guild_id=None)
                assert dc.wait_sent("9200", "message")[0].text == "alpha says: still here?"
                assert len(tg.sent_to(91)) == 2  # nothing answered twice
        finally:
            one.stop()
            two.stop()


def test_telegram_webhook_behind_a_load_balancer(tmp_path: Path, postgres: Any) -> None:
    """Telegram's webhook calls reach either replica (round robin per connection, no stickiness):
    the replica that does not run the bot writes the update down, the one that does answers it,
    each update once."""
    url = postgres.url(postgres.create_database())
    one = ServerProcess(tmp_path / "one", database_url=url, env={"MAGEC_REPLICA_ID": "replica-one"})
    two = ServerProcess(tmp_path / "two", database_url=url, env={"MAGEC_REPLICA_ID": "replica-two"})
    with (
        FakeServer(OpenAIFake("alpha")) as llm, TelegramFake() as tg,
        LoadBalancer([("127.0.0.1", one.port), ("127.0.0.1", two.port)]) as lb,
    ):
        one.server_config = two.server_config = {"publicURL": lb.url}
        one.start()
        two.start()
        try:
            with httpx.Client(timeout=30) as c:
                b = c.post(f"{one.admin_url}{A}/backends", json={"name": "L", "type": "openai", "url": llm.url}).json()
                agent = c.post(f"{one.admin_url}{A}/agents", json={"name": "Alpha",
                                                                   "llm": {"backend": b["id"], "model": "m"}}).json()
                t = c.post(f"{one.admin_url}{A}/clients", json={
                    "name": "tg", "type": "telegram", "allowedAgents": [agent["id"]],
                    "config": {"telegram": {"botToken": tg.token, "apiBaseUrl": tg.url}}}).json()
                _until(lambda: _status(c, one, t["id"]).get("connected") or _status(c, two, t["id"]).get("connected"),
                       20, "the bot connected")
                tg.wait_for(lambda _: tg.webhook is not None)
                chats = range(301, 307)
                for chat in chats:
                    tg.send_text(chat_id=chat, user_id=chat, text=f"hello from {chat}")
                assert tg.webhook_deliveries == [200] * len(chats)  # none refused: Telegram never had to retry
                for chat in chats:
                    assert [m.text for m in tg.wait_sent(chat, "sendMessage")] == [f"alpha says: hello from {chat}"]
                assert lb.connections[0] >= 2 and lb.connections[1] >= 2  # both replicas took calls
                time.sleep(1)  # a user watching: nothing comes twice
                assert all(len(tg.sent_to(chat, "sendMessage")) == 1 for chat in chats)
                assert len(llm.calls()) == len(chats)
        finally:
            one.stop()
            two.stop()

