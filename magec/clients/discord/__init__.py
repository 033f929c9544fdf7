"""Discord bot client: see :mod:`magec.clients.discord.bot`."""

from magec.clients.discord.bot import run

__all__ = ["run"]
