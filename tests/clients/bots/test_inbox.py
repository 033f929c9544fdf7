"""A bot's received messages survive a crash (the bots' inbox, :mod:`magec.clients.inbox`).

A platform forgets a message once the bot confirms it (Telegram's next ``getUpdates`` offset,
Slack's ack; Discord never redelivers), so the process is killed (SIGKILL) here while the bots are
answering: only what was written down before the platform was told can help. The next start asks
the users whose answer was cut off to send their message again (their agent had started: it is not
run twice) and answers the message that had not reached its agent yet; a third start sends nothing.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from magec.clients.inbox import BotInbox, Seen
from magec.clients.tables import bot_inbox
from magec.testing.apps import running_apps
from magec.testing.fake_platforms import DiscordFake, SlackFake, TelegramFake
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess
from tests.clients.bots.test_e2e import A, new_client, status_until


def _until(what: str, check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _connected(admin: httpx.Client, *ids: str) -> None:
    for cid in ids:
        status_until(admin, cid, lambda x: x.get("connected") is True)


def _count_reads(inbox: BotInbox) -> list[int]:
    """How many times the follower has read the inbox so far (``[n]``, counted as it reads)."""
    reads = [0]
    arrived = inbox.arrived

    async def counted(*args: Any) -> Any:
        reads[0] += 1
        return await arrived(*args)

    inbox.arrived = counted  # type: ignore[method-assign]
    return reads


async def _eventually(what: str, check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


def test_messages_being_answered_when_the_server_is_killed_are_not_lost(tmp_path: Path) -> None:
    with (
        FakeServer(OpenAIFake("slow")) as llm, TelegramFake() as tg, SlackFake() as sl, DiscordFake() as dc,
    ):
        # the first answer comes at once; the next three hang until the server is gone
        llm.script(Reply(text="quick answer"), *[Reply(text="never", delay=300)] * 3)
        srv = ServerProcess(tmp_path / "d").start()
        try:
            admin = httpx.Client(base_url=srv.admin_url, timeout=30)
            b = admin.post(f"{A}/backends", json={"name": "slow", "type": "openai", "url": llm.url}).json()
            agent = admin.post(f"{A}/agents", json={"name": "Alpha", "llm": {"backend": b["id"], "model": "m"}}).json()
            t = new_client(admin, "telegram", {"botToken": tg.token, "apiBaseUrl": tg.url}, agent["id"], "tg")
            s = new_client(admin, "slack", {"botToken": sl.bot_token, "appToken": sl.app_token,
                                            "apiBaseUrl": sl.api_base}, agent["id"], "slack")
            d = new_client(admin, "discord", {"botToken": dc.token, "apiBaseUrl": dc.api_base}, agent["id"], "dc")
            _connected(admin, t["id"], s["id"], d["id"])
            dc.wait_connected()

            tg.send_text(chat_id=5, user_id=5, text="first question")
            assert tg.wait_sent(5, "sendMessage")[0].text == "quick answer"
            tg.send_text(chat_id=5, user_id=5, text="second question")
            sl.send_message("D5", "U5", "slack question", channel_type="im")
            dc.send_message("5005", "5", "discord question", guild_id=None)
            _until("the three questions never reached the provider", lambda: len(llm.calls()) >= 4)
            # queued behind the second question of its chat: it has not reached the agent
            third = tg.send_text(chat_id=5, user_id=5, text="third question")
            _until("telegram never got the third question confirmed", lambda: tg.confirmed(third))
            assert len(sl.acks) == 1  # Slack, too, was told it arrived
        finally:
            srv.kill()
        sent = (len(tg.sent_to(5, "sendMessage")), len(sl.sent_to("D5")), len(dc.sent_to("5005")))
        assert sent == (1, 0, 0), sent

        # the same data directory started again (new ports, same database and key)
        with ServerProcess(tmp_path / "d"):
            told = tg.wait_sent(5, "sendMessage", count=3)[1:]
            texts = sorted(m.text for m in told)
            assert texts[0] == "slow says: third question", texts  # handled now, as if just received
            assert "“second question”" in texts[1] and "send it again" in texts[1], texts
            notice_sl = sl.wait_sent("D5", "chat.postMessage")[0].text
            assert "“slack question”" in notice_sl and "send it again" in notice_sl
            notice_dc = dc.wait_sent("5005", "message")[0]
            assert "“discord question”" in notice_dc.text and "send it again" in notice_dc.text
            time.sleep(1)  # a user watching the chats: nothing more comes (the first answer is not repeated)
            assert (len(tg.sent_to(5, "sendMessage")), len(sl.sent_to("D5")), len(dc.sent_to("5005"))) == (3, 1, 1)
            # the interrupted questions were not run again: only the third reached the provider
            assert [c for c in llm.calls() if "third question" in str(c.body)], "the third question was not asked"
            assert len(llm.calls()) == 5

        # told once: a third start has nothing left
        with ServerProcess(tmp_path / "d") as srv3, httpx.Client(base_url=srv3.admin_url, timeout=30) as admin:
            _connected(admin, t["id"], s["id"], d["id"])
            dc.wait_connected()
            time.sleep(1)
            assert (len(tg.sent_to(5, "sendMessage")), len(sl.sent_to("D5")), len(dc.sent_to("5005"))) == (3, 1, 1)
            assert len(llm.calls()) == 5


def test_a_telegram_update_delivered_twice_is_answered_once(tmp_path: Path) -> None:
    """Telegram sends an update again when its webhook call got no answer in time: the inbox knows it."""
    srv = ServerProcess(tmp_path / "srv")
    srv.server_config = {"publicURL": srv.user_url}
    with (
        FakeServer(OpenAIFake("alpha")) as llm, TelegramFake() as tg, srv,
        httpx.Client(base_url=srv.admin_url, timeout=30) as admin,
    ):
        b = admin.post(f"{A}/backends", json={"name": "alpha", "type": "openai", "url": llm.url}).json()
        agent = admin.post(f"{A}/agents", json={"name": "Alpha", "llm": {"backend": b["id"], "model": "m"}}).json()
        t = new_client(admin, "telegram", {"botToken": tg.token, "apiBaseUrl": tg.url}, agent["id"], "hooked")
        status_until(admin, t["id"], lambda x: x.get("connected") is True)
        tg.wait_for(lambda _: tg.webhook is not None)
        assert tg.webhook is not None
        update = {"update_id": 4242, "message": {
            "message_id": 1, "date": int(time.time()), "chat": {"id": 81, "type": "private", "first_name": "M"},
            "from": {"id": 81, "is_bot": False, "first_name": "M"}, "text": "once please"}}
        headers = {"X-Telegram-Bot-Api-Secret-Token": tg.webhook["secret_token"]}
        for _ in range(2):
            r = httpx.post(tg.webhook["url"], json=update, headers=headers)
            assert r.status_code == 200, r.text
        assert tg.wait_sent(81, "sendMessage")[0].text == "alpha says: once please"
        time.sleep(1)
        assert len(tg.sent_to(81, "sendMessage")) == 1
        assert len(llm.calls()) == 1


async def test_the_inbox_on_each_database(tmp_path: Path, db_url: str) -> None:
    """The inbox's contract on SQLite and PostgreSQL: a message is stored encrypted, a redelivery
    is recognised (also once answered), and a message that never finishes is not handed out forever."""
    async with running_apps(tmp_path / "data", database_url=db_url, start_runtime=False) as apps:
        store = apps.ctx.store
        inbox = BotInbox(store.engine, store.cipher)
        words = {"update_id": 1, "message": {"text": "my secret plans"}}
        assert await inbox.receive("c1", "1", words) is True
        assert await inbox.receive("c1", "1", words) is False  # Telegram sent it again
        assert await inbox.receive("c2", "1", words) is True  # another client's message 1
        async with store.engine.connect() as conn:
            raw = " ".join(str(v) for v in (await conn.execute(sa.select(bot_inbox.c.payload))).scalars())
        assert raw and "secret plans" not in raw
        await inbox.receive("c1", "2", {"n": 2})
        await inbox.started("c1", "2")
        await inbox.done("c2", "1")
        assert await inbox.receive("c2", "1", words) is False  # answered: still known
        assert await inbox.left("c2") == []
        # a message that never finishes: handed out as new twice, then as interrupted
        assert [(x.key, x.payload, x.started) for x in await inbox.left("c1")] == [("1", words, False), ("2", {"n": 2}, True)]
        assert [x.started for x in await inbox.left("c1")] == [False, True]
        assert [x.started for x in await inbox.left("c1")] == [True, True]
        await inbox.done("c1", "1")
        await inbox.done("c1", "2")
        assert await inbox.left("c1") == []
        async with store.engine.connect() as conn:
            kept = (await conn.execute(sa.select(bot_inbox.c.payload))).scalars().all()
        assert kept == ["", "", ""]  # answered: only the keys stay


async def test_a_worker_following_the_inbox_reads_only_what_is_new_to_it(tmp_path: Path, db_url: str) -> None:
    """A webhook-mode worker reads what other processes wrote down every second: the messages it
    already took (and is still answering: a backlog) are not read and decrypted again each round,
    and a message written by a replica whose clock is behind is taken like any other."""
    async with running_apps(tmp_path / "data", database_url=db_url, start_runtime=False) as apps:
        store = apps.ctx.store

        class Counting:  # the store's cipher, counting what it decrypts
            decrypted = 0

            def encrypt(self, text: str) -> str:
                return store.cipher.encrypt(text)

            def decrypt(self, text: str) -> str:
                Counting.decrypted += 1
                return store.cipher.decrypt(text)

        inbox = BotInbox(store.engine, Counting())  # type: ignore[arg-type]
        reads = _count_reads(inbox)

        for n in range(1, 1201):  # more than one read's worth of keys
            assert await inbox.receive("c1", str(n), {"update_id": n})
        seen = Seen()
        taken: list[Any] = []
        follower = asyncio.create_task(inbox.follow("c1", seen, taken.append, every=0.02))
        try:
            await _eventually("the backlog taken", lambda: len(taken) == 1200)
            assert [x["update_id"] for x in taken] == list(range(1, 1201))  # oldest first, each once
            assert Counting.decrypted == 1200
            await inbox.receive("c1", "1201", {"update_id": 1201})
            await _eventually("the new message taken", lambda: len(taken) == 1201)
            now = reads[0]
            await _eventually("three more rounds", lambda: reads[0] >= now + 3)  # over 1,201 unanswered rows
            assert len(taken) == 1201 and Counting.decrypted == 1201
            # written down by a replica whose clock is an hour behind: taken all the same
            async with store.engine.begin() as conn:
                await conn.execute(bot_inbox.insert().values(
                    client_id="c1", key="1202", payload=store.cipher.encrypt('{"update_id": 1202}'),
                    started=False, replays=0, received_at=datetime.now(UTC) - timedelta(hours=1)))
            await _eventually("the late-clocked message taken", lambda: len(taken) == 1202)
        finally:
            follower.cancel()


async def test_a_backlog_of_any_size_is_taken_once_and_answered_keys_are_let_go(tmp_path: Path, db_url: str) -> None:
    """The worker remembers what it took while it may still be answering it, however long the
    backlog (a bot flooded while its worker was down: it remembered only the newest 10,000 keys,
    and the next read handed it the oldest ones again — answered twice); and it lets go of what
    was answered, so the memory is the backlog's, not every message since start."""
    async with running_apps(tmp_path / "data", database_url=db_url, start_runtime=False) as apps:
        store = apps.ctx.store
        inbox = BotInbox(store.engine, store.cipher)
        backlog = 10_050
        sealed = store.cipher.encrypt('{"update_id": 0}')
        now = datetime.now(UTC)
        async with store.engine.begin() as conn:  # written down by other processes
            await conn.execute(bot_inbox.insert(), [
                {"client_id": "c1", "key": f"{n:06d}", "payload": sealed, "started": False, "replays": 0,
                 "received_at": now + timedelta(microseconds=n)} for n in range(backlog)])
        seen = Seen()
        taken: list[Any] = []
        reads = _count_reads(inbox)

        follower = asyncio.create_task(inbox.follow("c1", seen, taken.append, every=0.02))
        try:
            await _eventually("the backlog taken", lambda: len(taken) == backlog)
            now_round = reads[0]
            await _eventually("two more rounds", lambda: reads[0] >= now_round + 2)
            assert len(taken) == backlog  # nothing taken twice
            answered = [f"{n:06d}" for n in range(0, backlog, 2)]  # half of it, as done() leaves them
            async with store.engine.begin() as conn:
                for i in range(0, len(answered), 500):
                    await conn.execute(sa.update(bot_inbox).where(bot_inbox.c.key.in_(answered[i:i + 500]))
                                       .values(payload="", finished_at=datetime.now(UTC)))
            now_round = reads[0]
            await _eventually("two more rounds", lambda: reads[0] >= now_round + 2)
            assert len(seen) == backlog // 2 and f"{1:06d}" in seen and f"{0:06d}" not in seen
            assert len(taken) == backlog
        finally:
            follower.cancel()


def test_a_key_added_while_a_read_runs_is_kept() -> None:
    """A key added once a read began belongs to a row the read may not have seen: that read does
    not let it go, the next one (which would list it, unfinished) decides."""
    seen = Seen()
    seen.add("old-answered")
    seen.add("old-open")
    read = seen.reading()
    seen.add("new")  # its receipt committed after the read listed the keys
    seen.finished({"old-open"}, read)
    assert "new" in seen and "old-open" in seen and "old-answered" not in seen
    seen.finished({"old-open"}, seen.reading())
    assert "new" not in seen and not seen.add("old-open")


async def test_a_webhook_update_the_worker_also_reads_from_the_inbox_is_answered_once(tmp_path: Path) -> None:
    """In webhook mode the worker takes updates two ways: from its own hook route, and from the
    inbox rows other processes wrote (read every second). Its read can see an update the route has
    just written before the route hands it over (the commit is visible before the connection is
    back): the update is taken once, not answered twice (its agent run twice, tools and all)."""
    from magec.server import user_app
    from magec.testing.apps import serving

    with FakeServer(OpenAIFake("alpha")) as llm, TelegramFake() as tg:
        async with running_apps(tmp_path / "d") as apps, serving(user_app(apps.ctx)) as url:
            apps.ctx.config.public_url = url  # webhook mode, to this app
            inbox: BotInbox = apps.ctx.extras["bot_inbox"]
            receive, arrived = inbox.receive, inbox.arrived
            read = asyncio.Event()

            async def reading(client_id: str, known: Any) -> Any:
                rows = await arrived(client_id, known)
                if rows:
                    read.set()
                return rows

            async def receiving(client_id: str, key: str, payload: Any) -> bool:
                fresh = await receive(client_id, key, payload)
                if fresh and not read.is_set():  # the interleaving: the worker's read comes first
                    await asyncio.wait_for(read.wait(), 10)
                return fresh

            inbox.arrived, inbox.receive = reading, receiving  # type: ignore[method-assign]
            b = (await apps.admin.post(f"{A}/backends", json={"name": "a", "type": "openai", "url": llm.url})).json()
            agent = (await apps.admin.post(f"{A}/agents", json={"name": "Alpha",
                                                                "llm": {"backend": b["id"], "model": "m"}})).json()
            r = await apps.admin.post(f"{A}/clients", json={
                "name": "hooked", "type": "telegram", "allowedAgents": [agent["id"]],
                "config": {"telegram": {"botToken": tg.token, "apiBaseUrl": tg.url}}})
            assert r.status_code in (200, 201), r.text
            await asyncio.to_thread(tg.wait_for, lambda _: tg.webhook is not None)
            await asyncio.to_thread(tg.send_text, chat_id=81, user_id=81, text="once please")
            await asyncio.to_thread(tg.send_text, chat_id=81, user_id=81, text="and then this")
            # the chat's messages are answered in order: once the second is answered, a second
            # answer to the first would be there already
            sent = await asyncio.to_thread(tg.wait_sent, 81, "sendMessage", 2)
            assert [m.text for m in sent] == ["alpha says: once please", "alpha says: and then this"]
            assert [m.text for m in tg.sent_to(81, "sendMessage")] == [m.text for m in sent]
            assert len(llm.calls()) == 2


def test_a_new_bot_token_s_updates_are_not_taken_for_the_old_bot_s(tmp_path: Path) -> None:
    """Telegram counts ``update_id`` per bot: after the client's token is changed to another bot,
    that bot's updates reuse ids the old bot's answered updates had, and must still be answered."""
    with (
        FakeServer(OpenAIFake("alpha")) as llm,
        TelegramFake("111111:AAA-first-bot-token", username="first_bot", bot_id=111111) as one,
        TelegramFake("222222:BBB-second-bot-token", username="second_bot", bot_id=222222) as two,
        ServerProcess(tmp_path / "srv") as srv, httpx.Client(base_url=srv.admin_url, timeout=30) as admin,
    ):
        b = admin.post(f"{A}/backends", json={"name": "alpha", "type": "openai", "url": llm.url}).json()
        agent = admin.post(f"{A}/agents", json={"name": "Alpha", "llm": {"backend": b["id"], "model": "m"}}).json()
        t = new_client(admin, "telegram", {"botToken": one.token, "apiBaseUrl": one.url}, agent["id"], "tg")
        status_until(admin, t["id"], lambda x: x.get("identity") == "@first_bot" and x.get("connected") is True)
        for i in range(5):
            assert one.send_text(chat_id=7, user_id=7, text=f"to the first bot {i}") == i + 1
            assert one.wait_sent(7, "sendMessage", count=i + 1)[i].text == f"alpha says: to the first bot {i}"
        # the operator moves the client to another bot (a new token from BotFather)
        client = admin.get(f"{A}/clients/{t['id']}").json()
        r = admin.put(f"{A}/clients/{t['id']}", json={**client, "config": {"telegram": {
            "botToken": two.token, "apiBaseUrl": two.url}}})
        assert r.status_code == 200, r.text
        status_until(admin, t["id"], lambda x: x.get("identity") == "@second_bot" and x.get("connected") is True)
        for i in range(5):  # update ids 1…5 again, of another bot
            assert two.send_text(chat_id=7, user_id=7, text=f"to the second bot {i}") == i + 1
            assert two.wait_sent(7, "sendMessage", count=i + 1)[i].text == f"alpha says: to the second bot {i}"
        assert len(llm.calls()) == 10
