"""Signed webhook calls seen: a captured call is refused when sent again inside its window.

Why: a webhook client with a ``signingSecret`` is called with ``X-Magec-Timestamp`` and
``X-Magec-Signature`` (:mod:`magec.api.user.webhooks`), and a timestamp more than 5 minutes off is
refused — but inside those minutes the same captured call (a proxy log, a CI trace) ran its agent
again as often as it was sent, on every replica.

Contract: :meth:`SeenSignatures.first_use` records one verified signature of a client in
``webhook_signatures`` (the main database, shared by every ``--workers`` process and replica) until
its timestamp leaves the window, and answers False when it was recorded before: the insert *is*
the check (the primary key), so two replicas receiving the same call at once accept it once.
Expired rows are deleted at most once a minute per process (indexed by ``expires_at``). A caller
that sends the same body again (a retry) signs it anew with the time of sending, as
:func:`magec.api.user.webhooks.signature_headers` does; a retry within the same second carries the
same signature and is refused too. A database failure propagates (the call is not run unchecked).
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.clients.tables import webhook_signatures

#: seconds between two deletes of expired rows (per process)
PURGE_EVERY = 60.0
#: seconds a row outlives its window: a replica whose clock runs behind the one that wrote (and
#: purges) the row still accepts the timestamp that long; a minute covers ordinary clock drift
CLOCK_SKEW = 60.0


class SeenSignatures:
    def __init__(self, engine: AsyncEngine, window: float) -> None:
        self.engine = engine
        self.window = window  # seconds a timestamp may be off the server's clock (either way)
        self._purged = -PURGE_EVERY

    async def first_use(self, client_id: str, signature: str, stamp: int) -> bool:
        """Record ``signature`` (verified, of ``client_id``'s call stamped ``stamp``); False when
        it was recorded already (a replay)."""
        now = time.time()
        if time.monotonic() - self._purged > PURGE_EVERY:
            self._purged = time.monotonic()
            async with self.engine.begin() as conn:
                await conn.execute(sa.delete(webhook_signatures).where(webhook_signatures.c.expires_at < now))
        try:
            async with self.engine.begin() as conn:
                # kept while the timestamp is still accepted (until stamp + window) on any replica
                await conn.execute(webhook_signatures.insert().values(
                    client_id=client_id, signature=signature, expires_at=max(now, stamp + self.window) + CLOCK_SKEW))
        except sa.exc.IntegrityError:  # the primary key: this call was received already
            return False
        return True
