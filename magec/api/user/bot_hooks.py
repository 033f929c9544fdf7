"""Inbound HTTP for the bots: ``POST /api/v1/hooks/telegram/{clientId}`` (Telegram webhook mode).

Contract:

* Telegram calls this URL (set by the Telegram worker with ``setWebhook`` when ``server.publicURL``
  is set) with one Update as JSON and the ``X-Telegram-Bot-Api-Secret-Token`` header. The secret is
  derived from the client's bot token (:func:`magec.clients.telegram.webhook_secret`), so it is
  checked here against the client's current config — no client token, no cookie: the header is the
  credential, checked first. A missing or wrong secret and a client id that is not a Telegram bot
  with a token (none, another type) get the same ``401`` bytes after the same work (an HMAC and a
  constant-time compare against a throwaway secret), so a caller without the secret learns nothing
  of which client ids are Telegram bots. Only with the right secret does a disabled client answer
  ``404``. The client is read as of every write committed before the call, on any replica or worker
  process (read-your-writes).
* An accepted update goes to the running worker through :func:`magec.clients.workers.deliver`,
  which writes it down in the bot's inbox (:mod:`magec.clients.inbox`), and the route answers 200
  (the turn runs in the worker). When the inbox cannot take it → 503 with ``Retry-After``: Telegram
  sends it again, where a 200 would have lost it in a crash. When no worker of that client runs
  in this process (another replica or ``--workers`` process holds its lease, or it is starting),
  the update is written down in the inbox all the same and answered 200: the worker holding the
  lease takes it from there (:meth:`~magec.clients.inbox.BotInbox.follow`, within about a second),
  so replicas can sit behind one URL with no sticky routing. A process without the inbox (no
  client supervisor) → 404.
* The body must be a JSON object of at most 1 MiB (Telegram's updates are far smaller) → 400/413.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from magec.api.limits import parse_json
from magec.clients.inbox import BotInbox
from magec.clients.telegram import inbox_key, webhook_secret
from magec.clients.workers import deliver
from magec.context import AppContext
from magec.errors import AuthError, NotFoundError, PayloadTooLargeError, UnavailableError, ValidationError
from magec.redact import redact

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


#: the secret an id that is no Telegram bot is checked against: random per process, so no header
#: matches it, and the refusal costs what a wrong secret costs (no timing oracle)
_NOBODY = secrets.token_hex(32)


async def _bot_token(ctx: AppContext, client_id: str) -> tuple[str | None, bool]:
    """(bot token, enabled) of the Telegram client ``client_id``; no token for any other id."""
    if ctx.runtime is None:
        return None, False
    # fresh: Telegram's call may reach this replica right after an edit made on another (the
    # route skips the other routes' pre-auth, which is where they catch up)
    client = (await ctx.runtime.fresh()).snapshot.clients.get(client_id)
    if client is None or client.type != "telegram":
        return None, False
    config: Any = client.config
    section = config.get("telegram") if isinstance(config, Mapping) else None
    token = section.get("botToken") if isinstance(section, Mapping) else None
    return (token if isinstance(token, str) and token.strip() else None), bool(client.enabled)


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(tags=["bots"])

    @r.post("/api/v1/hooks/telegram/{client_id}")
    async def telegram_hook(client_id: str, request: Request) -> JSONResponse:
        """One Telegram Update for the Telegram client ``client_id`` (webhook mode)."""
        token, enabled = await _bot_token(ctx, client_id)
        # the secret first, the same way for every id: answering 404 before it told anyone which
        # client ids are Telegram bots (as bytes: a header above 0x7f is latin-1 text)
        expected = webhook_secret((token or _NOBODY).strip(), client_id).encode()
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected) or token is None:
            raise AuthError(f"missing or wrong {SECRET_HEADER}")
        if not enabled:  # only whoever holds the secret (Telegram) learns this
            raise NotFoundError(f"no enabled Telegram client {client_id!r}")
        body = await request.body()
        if len(body) > MAX_BODY:
            raise PayloadTooLargeError(f"an update is at most {MAX_BODY} bytes")
        update = parse_json(body)  # a 400 naming the body for anything json.loads would choke on
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            raise ValidationError("body: a Telegram Update object with update_id", field="update_id")
        inbox: BotInbox | None = ctx.extras.get("bot_inbox")
        try:
            delivered = await deliver(client_id, update)
            if not delivered and inbox is not None:
                # the bot runs in another process (replica, --workers): written down, it takes it from there
                await inbox.receive(client_id, inbox_key(token, update["update_id"]), update)
                delivered = True
        except Exception as err:  # the inbox could not write it down: Telegram keeps it and retries
            log.warning("telegram client %s: an update was not taken: %s", client_id, redact(str(err)))
            return JSONResponse({"ok": False, "code": UnavailableError.code, "error": "the update could not be recorded; "
                                 "send it again"}, status_code=503, headers={"Retry-After": "5"})
        if not delivered:
            raise NotFoundError("this client's Telegram bot does not run in this process right now")
        return JSONResponse({"ok": True})

    return r
