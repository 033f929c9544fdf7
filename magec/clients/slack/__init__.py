"""Slack bot client: see :mod:`magec.clients.slack.bot`."""

from magec.clients.slack.bot import run

__all__ = ["run"]
