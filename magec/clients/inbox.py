"""The bots' inbox: a chat message is written down before its platform is told it arrived, so a
crash cannot lose it.

A platform forgets a message once a bot confirms it: Telegram at the next ``getUpdates`` offset
(or the webhook's ``200``), Slack when the Socket Mode envelope is acked; Discord never sends a
message twice at all. A process killed while answering lost the message; the user waited for an
answer that never came. One row per message in ``bot_inbox`` (:mod:`magec.clients.tables`), keyed
by the client and the platform's own id for it — unique on the platform: Slack's ``event_id``,
Discord's message id, Telegram's ``<bot id>:<update_id>`` (update ids count per bot, and a client's
token may be changed to another bot, :func:`magec.clients.telegram.inbox_key`):

* :meth:`BotInbox.receive` is called *before* the platform is told. The raw message (a user's
  words) is stored encrypted. True when the message is new; False when it was seen before (a
  redelivery: Telegram resends unconfirmed updates after a crash, Slack retries an envelope it got
  no ack for) and the caller drops it. It raises when the database cannot take the row: the caller
  then leaves the message with its platform (not confirmed, ``503``, not acked) to be sent again.
* :meth:`BotInbox.started` marks the moment the agent's turn begins: a replay from there could run
  the agent twice (its tools may have acted), so such a message is not run again after a crash —
  its user is asked to send it again (:func:`notice`), as a webhook's caller is told
  (:mod:`magec.clients.accepted`). A message that had not reached its agent (queued behind another
  one of its conversation, or a command) is simply handled by the next start.
* :meth:`BotInbox.done`: answered (or failed and told). The row keeps only its key, a tombstone
  that still recognises a late redelivery, for :data:`KEEP_DONE`.
* :meth:`BotInbox.left` is read by a bot worker when it starts. The worker holds its client's
  lease (:mod:`magec.clients.supervisor`), so no other process answers that client's messages:
  every unfinished row is the previous worker's (a crash, a stop past its grace). Oldest first.
  A row handed out :data:`MAX_REPLAYS` times without finishing comes back as started (a message
  that kills the process must not kill every start); rows older than :data:`MAX_AGE` are given up,
  logged.

* :meth:`BotInbox.follow` is how the worker of a bot whose platform calls a URL (Telegram's webhook
  mode) gets the messages another process wrote down: behind a load balancer, or with
  ``--workers``, the platform's call reaches any replica, and one that does not run the bot writes
  the message here and answers ``200`` (:mod:`magec.api.user.bot_hooks`); the worker holding the
  lease reads the unfinished messages it has not taken, every :data:`FOLLOW_EVERY` seconds (the
  keys first: only the messages new to it are read and decrypted). What it took is remembered
  (:class:`Seen`) until a read shows it finished, however long the backlog: a key forgotten while
  its message was still unanswered would have it taken, and answered, twice.

:func:`answered` wraps a message's handler: ``done`` when it returns, nothing when it is cancelled
(the row stays for the next start).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.clients.tables import bot_inbox
from magec.redact import redact
from magec.store.crypto import Cipher

log = logging.getLogger(__name__)

#: an unfinished message older than this is given up (its user has long moved on)
MAX_AGE = timedelta(days=1)
#: how long an answered message's key is kept to recognise a redelivery (Telegram keeps an
#: unconfirmed update for 24 hours)
KEEP_DONE = timedelta(days=1)
#: how many times a message that never finishes is handed out again before it is given up
MAX_REPLAYS = 2
#: seconds between purges of old rows (one per process, on the first receive after it)
PURGE_EVERY = 3600.0
#: seconds between two reads of what other processes wrote down for a running worker
FOLLOW_EVERY = 1.0


@dataclass(frozen=True)
class Left:
    """A message a previous worker received and did not finish."""

    key: str
    payload: dict[str, Any]
    started: bool  # it reached its agent: ask the user to send it again, do not run it twice


class BotInbox:
    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        self.engine = engine
        self.cipher = cipher
        self._purged = -PURGE_EVERY  # the first use purges (monotonic time may start near 0 at boot)

    async def receive(self, client_id: str, key: str, payload: Mapping[str, Any]) -> bool:
        """Write the message down (see the contract); False for a message seen before."""
        if time.monotonic() - self._purged > PURGE_EVERY:
            await self.purge()
        sealed = self.cipher.encrypt(json.dumps(payload, separators=(",", ":")))
        try:
            async with self.engine.begin() as conn:
                await conn.execute(bot_inbox.insert().values(
                    client_id=client_id, key=key, payload=sealed, started=False, replays=0,
                    received_at=datetime.now(UTC),
                ))
        except sa.exc.IntegrityError:  # the primary key: this message is here already
            return False
        return True

    async def started(self, client_id: str, key: str) -> None:
        """The message's agent turn begins (see the contract)."""
        t = bot_inbox
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(t).where(t.c.client_id == client_id, t.c.key == key).values(started=True))

    async def done(self, client_id: str, key: str) -> None:
        """Answered: keep only the key (a tombstone), the message itself goes."""
        t = bot_inbox
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(t).where(t.c.client_id == client_id, t.c.key == key)
                               .values(payload="", finished_at=datetime.now(UTC)))

    async def left(self, client_id: str) -> list[Left]:
        """What the previous worker of ``client_id`` did not finish (see the contract)."""
        await self.purge()
        t = bot_inbox
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                sa.select(t.c.key, t.c.payload, t.c.started, t.c.replays)
                .where(t.c.client_id == client_id, t.c.finished_at.is_(None))
                .order_by(t.c.received_at, t.c.key)
            )).all()
        out: list[Left] = []
        for key, sealed, started, replays in rows:
            try:
                payload = json.loads(self.cipher.decrypt(str(sealed)))
            except Exception as err:  # another encryption key: nobody can read it any more
                log.warning("bot inbox: a message of client %s cannot be read (%s); dropped", client_id,
                            redact(str(err)))
                await self.done(client_id, str(key))
                continue
            if not isinstance(payload, dict):
                await self.done(client_id, str(key))
                continue
            async with self.engine.begin() as conn:
                await conn.execute(sa.update(t).where(t.c.client_id == client_id, t.c.key == key)
                                   .values(replays=t.c.replays + 1))
            out.append(Left(str(key), payload, bool(started) or int(replays) >= MAX_REPLAYS))
        return out

    async def arrived(self, client_id: str,
                      known: Callable[[str], bool] = lambda _key: False) -> list[tuple[str, dict[str, Any]]]:
        """The unfinished messages of ``client_id``, oldest first, but those whose key is
        ``known``: the keys are read first and only the other messages are read and decrypted (a
        worker answering a backlog would decrypt it all every round)."""
        t = bot_inbox
        unfinished = (t.c.client_id == client_id, t.c.finished_at.is_(None))
        async with self.engine.connect() as conn:
            keys = (await conn.execute(sa.select(t.c.key).where(*unfinished).order_by(t.c.received_at, t.c.key)))
            wanted = [str(key) for key in keys.scalars() if not known(str(key))]
            sealed_of: dict[str, str] = {}
            for i in range(0, len(wanted), 500):  # a bounded IN list, whatever the backlog
                batch = await conn.execute(sa.select(t.c.key, t.c.payload)
                                           .where(*unfinished, t.c.key.in_(wanted[i:i + 500])))
                sealed_of.update((str(key), str(sealed)) for key, sealed in batch)
        out = []
        for key, sealed in ((k, sealed_of[k]) for k in wanted if k in sealed_of):
            try:
                payload = json.loads(self.cipher.decrypt(str(sealed)))
            except Exception:  # another key: left() of the next start drops it
                continue
            if isinstance(payload, dict):
                out.append((str(key), payload))
        return out

    async def follow(self, client_id: str, seen: Seen, take: Callable[[dict[str, Any]], None],
                     every: float = FOLLOW_EVERY) -> None:
        """Forever: hand ``take`` each unfinished message of ``client_id`` that is not in ``seen``:
        ``seen`` holds what the worker took (:meth:`left` at its start, its own receipts, what
        this handed it), so what is left is what another process wrote down. No clock is compared:
        a replica whose clock is behind still has its messages taken."""
        listed: set[str] = set()  # the unfinished keys the current read listed

        def known(key: str) -> bool:
            listed.add(key)
            return key in seen

        while True:
            try:
                listed.clear()
                read = seen.reading()
                for key, payload in await self.arrived(client_id, known):
                    if seen.add(key):  # checked after the read: a message taken meanwhile is skipped
                        take(payload)
                seen.finished(listed, read)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a database hiccup: the next round reads again
                log.warning("bot inbox: client %s: %s", client_id, redact(str(err)))
            await asyncio.sleep(every)

    async def purge(self) -> None:
        """Drop tombstones older than :data:`KEEP_DONE` and give up messages older than :data:`MAX_AGE`."""
        self._purged = time.monotonic()
        t = bot_inbox
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(t).where(t.c.finished_at.is_not(None), t.c.finished_at < now - KEEP_DONE))
            stale = await conn.execute(sa.delete(t).where(t.c.finished_at.is_(None), t.c.received_at < now - MAX_AGE))
        if stale.rowcount:
            log.warning("bot inbox: %d message(s) received over a day ago and never answered were given up",
                        stale.rowcount)


class Seen:
    """The keys a worker has taken and may still be answering: a message another process wrote
    down is taken once, and never while the worker answers it from its own receipt.

    A key is added once its row is committed (the receipt, :meth:`BotInbox.left`, or a read that
    listed it), and forgotten only when a read *begun after it was added* no longer lists it among
    the unfinished rows (:meth:`finished`): its message was answered (or given up), and a finished
    row is never unfinished again. So it holds the unanswered backlog, whatever its size, and no
    more than a round's worth of answered keys."""

    def __init__(self) -> None:
        self._keys: dict[str, int] = {}  # key → the read during which it was added
        self._read = 0

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str) -> bool:
        """Remember ``key``; False when it was already there."""
        if key in self._keys:
            return False
        self._keys[key] = self._read
        return True

    def reading(self) -> int:
        """Called before a read of the unfinished keys; what :meth:`finished` is then given."""
        self._read += 1
        return self._read

    def finished(self, unfinished: set[str], read: int) -> None:
        """Forget the keys added before ``read`` began that it did not list as ``unfinished``
        (a key added since may belong to a row committed after the read looked)."""
        for key in [k for k, at in self._keys.items() if at < read and k not in unfinished]:
            del self._keys[key]


async def answered(inbox: BotInbox | None, client_id: str, key: str | None, handling: Awaitable[None]) -> None:
    """Run a message's ``handling`` (which deals with its own failures), then mark it done. A
    cancelled handling (a stop past its grace) leaves the row for the next start."""
    await handling
    if inbox is None or key is None:
        return
    try:
        await inbox.done(client_id, key)
    except Exception as err:  # the next start tells this user to send it again: a lesser harm than a crash
        log.warning("bot inbox: client %s message %s answered but not marked done: %s", client_id, key,
                    redact(str(err)))


def spawn_answered(tasks: set[asyncio.Task[None]], inbox: BotInbox | None, client_id: str, key: str | None,
                   handling: Awaitable[None]) -> None:
    """Run :func:`answered` as a task of a bot worker's ``tasks`` (the set its stop waits for)."""
    task = asyncio.create_task(answered(inbox, client_id, key, handling))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


class Replaying:
    """The spawn/replay pair of a bot whose platform message is a JSON object written down as it
    came (Slack's event, Discord's message): one copy here, not one per bot.

    The bot supplies ``ctx`` (its :class:`~magec.clients.types.WorkerContext`), ``tasks`` (the set
    its stop waits for), ``_handle_safely(message, key)`` (answers, dealing with its own failures)
    and ``_tell_interrupted(message)`` (asks the user to send it again). Telegram keeps its own:
    its messages are ``Update`` objects rebuilt from the stored JSON and its replay returns keys."""

    ctx: Any
    tasks: set[asyncio.Task[None]]

    def _handle_safely(self, message: dict[str, Any], key: str | None = None) -> Awaitable[None]:
        raise NotImplementedError

    def _tell_interrupted(self, message: dict[str, Any]) -> Awaitable[None]:
        raise NotImplementedError

    def _spawn(self, message: dict[str, Any], key: str | None, *, interrupted: bool = False) -> None:
        handling = self._tell_interrupted(message) if interrupted else self._handle_safely(message, key)
        spawn_answered(self.tasks, self.ctx.inbox, self.ctx.client_id, key, handling)

    async def _replay(self) -> None:
        """The messages the previous worker received and did not finish (a started one is not run
        again: its user is asked to send it again)."""
        if self.ctx.inbox is None:
            return
        for left in await self.ctx.inbox.left(self.ctx.client_id):
            self._spawn(left.payload, left.key, interrupted=left.started)


async def mark_started(inbox: BotInbox | None, client_id: str, key: str | None) -> None:
    """:meth:`BotInbox.started`, where a failure is logged: the turn goes on (after a crash it
    would then run again rather than be lost)."""
    if inbox is None or key is None:
        return
    try:
        await inbox.started(client_id, key)
    except Exception as err:
        log.warning("bot inbox: client %s message %s not marked started: %s", client_id, key, redact(str(err)))


def notice(text: str | None) -> str:
    """What a user whose message was interrupted mid-answer is told."""
    words = " ".join((text or "").split())
    quoted = f"“{words[:77]}…”" if len(words) > 80 else f"“{words}”" if words else "your voice message"
    return f"⚠️ I was restarted while answering {quoted} and lost my answer. Please send it again."
