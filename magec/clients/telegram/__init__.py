"""Telegram bot client: see :mod:`magec.clients.telegram.bot`."""

from magec.clients.telegram.bot import run, webhook_secret

__all__ = ["run", "webhook_secret"]
