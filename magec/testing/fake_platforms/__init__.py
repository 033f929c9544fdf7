"""Loopback fakes of the chat platforms the bots talk to (real servers on 127.0.0.1 speaking each
platform's wire protocol), for tests of the Telegram, Slack and Discord bots.

* :class:`TelegramFake` — the Bot API (``{url}/bot{token}/{method}``), long polling and webhooks.
* :class:`SlackFake` — the Web API (``{url}/api/``) and Socket Mode (a ``ws://`` URL from
  ``apps.connections.open``).
* :class:`DiscordFake` — REST (``{url}/api/v10``) and the Gateway WebSocket from ``GET /gateway/bot``.

Each runs in its own thread (``with TelegramFake() as tg: ...`` or ``.start()`` / ``.stop()``),
records what the bot sent in ``fake.sent`` (:class:`Sent`: ``kind``, ``target``, ``data``,
``files``, ``.text``) and offers ``wait_sent(target, kind, count)`` / ``await_sent(...)`` and
``wait_for(predicate)`` to wait for it. :func:`voice_note` makes a real OGG/Opus voice note with
espeak-ng; :func:`espeak_wav` the WAV.
"""

from magec.testing.fake_platforms._audio import espeak_wav, voice_note
from magec.testing.fake_platforms._base import PlatformServer, Sent
from magec.testing.fake_platforms.discord import DiscordFake
from magec.testing.fake_platforms.slack import SlackFake
from magec.testing.fake_platforms.telegram import TelegramFake

__all__ = ["DiscordFake", "PlatformServer", "Sent", "SlackFake", "TelegramFake", "espeak_wav", "voice_note"]
