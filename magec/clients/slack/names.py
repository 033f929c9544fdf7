"""Display names of a Slack workspace's users, asked of Slack (``users.info``) as rarely as will do.

Slack limits ``users.info`` (Tier 4, about 100 calls a minute per workspace); a busy channel asked
it for every message, and a bot without the ``users:read`` scope asked again on every message
because a refusal was never remembered. Contract of :class:`UserNames`:

* A name (``@handle``, else the real name, else "") is kept for :data:`NAME_TTL` seconds, so a
  renamed user shows the new name within that while; at most :data:`NAMES_KEPT` users are kept,
  the least recently seen going first (an active user stays).
* One ask per user at a time: messages of one user arriving together share the one ``users.info``.
* A refusal that concerns the whole workspace (``missing_scope``, ``not_allowed_token_type``,
  ``ratelimited``) pauses every ask for :data:`PAUSE` seconds (a rate limit: Slack's
  ``Retry-After``, if longer); meanwhile names are "" (the turn goes on under the id alone). Any
  other failure (``user_not_found``, a network error) is remembered for that user for
  :data:`NAME_RETRY` seconds.

The fetch callable is the vendor's (:mod:`magec.clients.slack.bot`); it raises
:class:`Unavailable` to say which of the two kinds a failure is.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

#: users whose names a worker remembers
NAMES_KEPT = 1000
#: seconds a name is used before Slack is asked again (a rename shows within this)
NAME_TTL = 3600.0
#: seconds a user Slack gave no name for is not asked about again
NAME_RETRY = 300.0
#: seconds every ask waits after a workspace-wide refusal (no scope, rate limited)
PAUSE = 300.0


class Unavailable(Exception):  # noqa: N818 - a verdict, raised by the fetch callable
    """Slack gave no name: for every user (``workspace``; ``retry_after`` from Slack, if it said)
    or for this one."""

    def __init__(self, reason: str, *, workspace: bool = False, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.workspace = workspace
        self.retry_after = retry_after


class UserNames:
    """See the module contract."""

    def __init__(self, fetch: Callable[[str], Awaitable[str]], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._kept: OrderedDict[str, tuple[str, float]] = OrderedDict()  # user -> (name, good until)
        self._asking: dict[str, asyncio.Future[str]] = {}
        self._paused_until = 0.0

    async def get(self, user: str) -> str:
        """``user``'s display name, "" when Slack does not say (see the module contract). Raises
        :class:`Unavailable` never: the reason of a failed ask is logged by the caller's fetch."""
        now = self._clock()
        kept = self._kept.get(user)
        if kept is not None and kept[1] > now:
            self._kept.move_to_end(user)
            return kept[0]
        if now < self._paused_until:
            return kept[0] if kept is not None else ""
        pending = self._asking.get(user)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._asking[user] = future
        try:
            name, ttl = await self._ask(user, kept[0] if kept is not None else "")
            self._keep(user, name, ttl)
            future.set_result(name)
            return name
        finally:
            if not future.done():  # cancelled while asking: whoever waits on it asks for itself next time
                future.set_result(kept[0] if kept is not None else "")
            self._asking.pop(user, None)

    async def _ask(self, user: str, stale: str) -> tuple[str, float]:
        try:
            return await self._fetch(user), NAME_TTL
        except Unavailable as why:
            if why.workspace:
                self._paused_until = self._clock() + max(PAUSE, why.retry_after)
            # a name seen before stays shown (renamed or not, it was theirs) until the next ask
            return stale, NAME_RETRY

    def _keep(self, user: str, name: str, ttl: float) -> None:
        self._kept[user] = (name, self._clock() + ttl)
        self._kept.move_to_end(user)
        while len(self._kept) > NAMES_KEPT:
            self._kept.popitem(last=False)
