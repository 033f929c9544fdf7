"""The probes of both apps: ``/api/v1/health`` and ``/api/v1/health/ready``.

Contract:

* ``GET /api/v1/health`` — liveness, Magec's: ``200 ok`` (plain text) while the process serves
  HTTP, whatever its dependencies do (a liveness probe that failed on a database outage would have
  every replica restarted at once, fixing nothing).
* ``GET /api/v1/health/ready`` — readiness, for a load balancer: ``200 {"status": "ok"}`` when this
  replica reached its database within :data:`READY_TIMEOUT` seconds, else ``503`` with the one
  error body and ``Retry-After``, so the balancer sends the traffic to the replicas that can serve
  it: ``code: database_unavailable`` when the database did not answer, ``code: overloaded`` when
  this process had no free pool connection to ask it (busy, not cut off: the log says which).
* Both need no credentials and are exempt from the Host / Origin checks (orchestrators probe by IP):
  they say nothing but up or down.
* The readiness probe logs when its verdict changes (and while down, once a minute), not per probe.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from magec.api.errors import DATABASE_DOWN, to_response
from magec.context import AppContext
from magec.errors import OverloadedError
from magec.redact import redact
from magec.store.pool import unreachable

log = logging.getLogger(__name__)

LIVE_PATH = "/api/v1/health"
READY_PATH = "/api/v1/health/ready"
PROBES = frozenset({LIVE_PATH, READY_PATH})
#: longer than a healthy database's round trip under load, shorter than a balancer's probe timeout
READY_TIMEOUT = 3.0


#: while a probe keeps failing the same way, its log line is repeated at most this often (s)
REPEAT_EVERY = 60.0


class _Verdicts:
    """What the readiness probe logs: a line when its verdict changes (down, overloaded, back to
    ok), and while it stays down at most one line a minute. A balancer probes every few seconds
    per replica, so a line per probe would bury the outage's first line (and fill the disk)."""

    def __init__(self) -> None:
        self.state = "ok"
        self.since = time.monotonic()
        self.logged = 0.0

    def failing(self, state: str, line: str, *args: object) -> None:
        now = time.monotonic()
        if state != self.state:
            self.state, self.since, self.logged = state, now, now
            log.warning(line, *args)
        elif now - self.logged >= REPEAT_EVERY:
            self.logged = now
            log.warning(line + " (for %.0f s)", *args, now - self.since)

    def ok(self) -> None:
        if self.state != "ok":
            log.info("readiness: ok again after %.0f s (%s)", time.monotonic() - self.since, self.state)
            self.state, self.since = "ok", time.monotonic()


def install(app: FastAPI, ctx: AppContext) -> None:
    # one per process: both ports' probes report the same database
    verdicts: _Verdicts = ctx.extras.setdefault("readiness", _Verdicts())

    @app.get(LIVE_PATH, tags=["health"], summary="Liveness: ok while the process serves HTTP")
    async def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get(READY_PATH, tags=["health"], summary="Readiness: this replica reaches its database (503 when not, or when overloaded)")
    async def ready() -> JSONResponse:
        cause = await unreachable(ctx.store.engine, READY_TIMEOUT)
        if isinstance(cause, OverloadedError):
            verdicts.failing("overloaded", "readiness: overloaded: every database pool connection is in use "
                             "(database.poolSize)")
            return to_response(cause)
        if cause is not None:
            # the cause goes to the log (redacted there); the probe's body stays generic
            verdicts.failing("unreachable", "readiness: database unreachable: %s", redact(repr(cause)))
            return to_response(DATABASE_DOWN)
        verdicts.ok()
        return JSONResponse({"status": "ok"})
