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
"""

from __future__ import annotations

import logging

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


def install(app: FastAPI, ctx: AppContext) -> None:
    @app.get(LIVE_PATH, tags=["health"], summary="Liveness: ok while the process serves HTTP")
    async def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get(READY_PATH, tags=["health"], summary="Readiness: this replica reaches its database (503 when not, or when overloaded)")
    async def ready() -> JSONResponse:
        cause = await unreachable(ctx.store.engine, READY_TIMEOUT)
        if isinstance(cause, OverloadedError):
            log.warning("readiness: overloaded: every database pool connection is in use (database.poolSize)")
            return to_response(cause)
        if cause is not None:
            # the cause goes to the log (redacted there); the probe's body stays generic
            log.warning("readiness: database unreachable: %s", redact(repr(cause)))
            return to_response(DATABASE_DOWN)
        return JSONResponse({"status": "ok"})
