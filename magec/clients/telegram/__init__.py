"""Telegram bot client: see :mod:`magec.clients.telegram.bot` (its ``run`` is the worker).

The package itself stays light: the user app's webhook route needs :func:`webhook_secret` in every
process, python-telegram-bot only the processes that run a Telegram client.
"""

import hashlib
import hmac

__all__ = ["webhook_secret"]


def webhook_secret(token: str, client_id: str) -> str:
    """The ``secret_token`` Telegram echoes on every webhook call (A-Z, a-z, 0-9; from the token,
    so every replica derives the same one and nothing more is stored)."""
    return hmac.new(token.encode(), f"magec-telegram-webhook:{client_id}".encode(), hashlib.sha256).hexdigest()
