"""Telegram bot client: see :mod:`magec.clients.telegram.bot` (its ``run`` is the worker).

The package itself stays light: the user app's webhook route needs :func:`webhook_secret` in every
process, python-telegram-bot only the processes that run a Telegram client.
"""

import hashlib
import hmac

__all__ = ["inbox_key", "webhook_secret"]


def webhook_secret(token: str, client_id: str) -> str:
    """The ``secret_token`` Telegram echoes on every webhook call (A-Z, a-z, 0-9; from the token,
    so every replica derives the same one and nothing more is stored)."""
    return hmac.new(token.encode(), f"magec-telegram-webhook:{client_id}".encode(), hashlib.sha256).hexdigest()


def inbox_key(token: str, update_id: int | str) -> str:
    """The inbox key of an update (:mod:`magec.clients.inbox`): ``<bot id>:<update_id>``.

    ``update_id`` counts per bot: a client whose token is changed to another bot meets update ids
    the old bot already used, and keyed by them alone its first messages were dropped as
    redeliveries. The bot id is the token's numeric prefix (what ``getMe`` answers as ``id``); a
    token without one (never issued by Telegram) is told apart by a digest of itself."""
    prefix = token.strip().partition(":")[0]
    bot = prefix if prefix.isdigit() else "t" + hashlib.sha256(token.strip().encode()).hexdigest()[:16]
    return f"{bot}:{update_id}"
