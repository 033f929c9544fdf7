"""Worker contract: what a long-running client (bot poller, cron schedule) gets and reports.

* A :data:`Worker` is ``async def run(ctx: WorkerContext) -> None`` and runs until cancelled. If it
  raises, the supervisor (:mod:`magec.clients.supervisor`) records ``status.failed(...)`` and
  restarts it with backoff. The supervisor starts one worker per enabled client of a worker type,
  restarts it when that client's row changes, stops it when the client is disabled or deleted —
  live — and, with several replicas, runs each worker on exactly one replica (a lease in the
  database).
* :class:`WorkerStatus` is the mutable status the Admin API shows for the client (``status`` on
  ``GET /clients`` and ``/clients/{id}``). Errors are redacted when recorded.
* Inbound HTTP for a running worker (Telegram webhook mode) goes through :func:`deliver`: the worker
  registers an inbox with :func:`register_inbox` (a coroutine function: it writes the payload down
  in the client's :class:`~magec.clients.inbox.BotInbox` before the route answers) and the HTTP
  route hands payloads to it. ``deliver`` answers False when no worker of that client runs in this
  process (the route then answers 404/503; another replica may hold the lease); it raises what the
  inbox raises (the payload is not taken: the route answers 503 and the platform sends it again).
* ``ctx.inbox`` (:mod:`magec.clients.inbox`) is where a bot writes a message down before its
  platform is told it arrived, and what the next start finds of the messages it did not finish.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from magec.clients.conversation import Conversations
from magec.clients.inbox import BotInbox
from magec.redact import redact


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class WorkerStatus:
    """Thread-safe-enough mutable status shown by the Admin API / UI for the client.

    Plain attribute writes from one event loop; readers take a consistent-enough copy with
    :meth:`view`. ``extra`` holds type-specific fields (cron: ``nextRun``, ``lastRun``,
    ``lastResult``), shown as they are.
    """

    def __init__(self) -> None:
        self.running = False
        self.is_connected = False
        self.identity: str | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_message_at: float | None = None
        self.started_at: float | None = None
        self.restarts = 0
        self.extra: dict[str, Any] = {}

    def connected(self, identity: str | None = None) -> None:
        """The worker reached its platform (e.g. identity ``"@my_bot"``)."""
        self.is_connected = True
        if identity is not None:
            self.identity = identity

    def failed(self, error: str) -> None:
        """Record a (redacted) last error; the worker is no longer connected."""
        self.is_connected = False
        self.last_error = redact(str(error))[:500]
        self.last_error_at = time.time()

    def ignored(self, user_id: object, chat_id: object, name: str | None = None) -> None:
        """A message from someone no allow-list admits: kept (the latest one) so the admin, asked
        "why does the bot not answer me?", sees which user id and chat to allow (people know their
        @name, not the numeric id the allow-lists take)."""
        self.extra["lastIgnored"] = {"userId": str(user_id), "chatId": str(chat_id),
                                     "name": str(name)[:100] if name else None, "at": _iso(time.time())}

    def message_seen(self) -> None:
        """A message came in (last message time)."""
        self.last_message_at = time.time()

    def view(self) -> dict[str, Any]:
        """The JSON the Admin API shows."""
        return {
            "running": self.running,
            "connected": self.is_connected,
            "identity": self.identity,
            "lastError": self.last_error,
            "lastErrorAt": _iso(self.last_error_at),
            "lastMessageAt": _iso(self.last_message_at),
            "startedAt": _iso(self.started_at),
            "restarts": self.restarts,
            **self.extra,
        }


@dataclass
class WorkerContext:
    client_id: str
    config: Mapping[str, Any]  # the client's config with secrets decrypted and ${KEY} expanded
    conversations: Conversations
    status: WorkerStatus
    public_url: str | None  # settings/server.publicURL when set (Telegram webhook mode)
    #: the client's type (``telegram``, ``cron``…) and its full expanded record (allowedAgents…)
    client_type: str = ""
    client: Mapping[str, Any] | None = None
    #: the id of the replica running the worker (it holds the client's lease)
    replica: str = ""
    #: seconds the messages a worker is answering get to finish when it stops (``server.shutdownGrace``):
    #: the platform was told they arrived, and will not send them again
    grace: float = 0.0
    #: the bots' durable inbox (None: messages are not written down, as in unit tests of a bot)
    inbox: BotInbox | None = None


Worker = Callable[[WorkerContext], Awaitable[None]]

#: client id -> the inbox of its worker running in this process
_inboxes: dict[str, Callable[[Any], Awaitable[None]]] = {}


def register_inbox(client_id: str, inbox: Callable[[Any], Awaitable[None]]) -> Callable[[], None]:
    """Route :func:`deliver` payloads for ``client_id`` to ``inbox``; returns the unregister call."""
    _inboxes[client_id] = inbox

    def unregister() -> None:
        if _inboxes.get(client_id) is inbox:
            del _inboxes[client_id]

    return unregister


async def deliver(client_id: str, payload: Any) -> bool:
    """Hand ``payload`` to the running worker of ``client_id``; False when none runs here."""
    inbox = _inboxes.get(client_id)
    if inbox is None:
        return False
    await inbox(payload)
    return True
