"""The probes of both apps: ``/api/v1/health`` and ``/api/v1/health/ready``.

Contract:

* ``GET /api/v1/health`` — liveness, Magec's: ``200 ok`` (plain text) while the process serves
  HTTP, whatever its dependencies do (a liveness probe that failed on a database outage would have
  every replica restarted at once, fixing nothing).
* ``GET /api/v1/health/ready`` — readiness, for a load balancer: ``200 {"status": "ok"}`` when this
  replica reached its database within :data:`READY_TIMEOUT` seconds, else ``503`` with the one
  error body (``code: database_unavailable``) and ``Retry-After``, so the balancer sends the traffic
  to the replicas that can serve it.
* Both need no credentials and are exempt from the Host / Origin checks (orchestrators probe by IP):
  they say nothing but up or down.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from magec.api.errors import error_response
from magec.context import AppContext
from magec.errors import DatabaseUnavailableError

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

    @app.get(READY_PATH, tags=["health"], summary="Readiness: this replica reaches its database (503 when not)")
    async def ready() -> JSONResponse:
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                async with ctx.store.engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
        except Exception as e:  # noqa: BLE001 - any failure to answer is "not ready"
            # the cause goes to the log (redacted there); the probe's body stays generic
            log.warning("readiness: database unreachable: %s", type(e).__name__ if isinstance(e, TimeoutError) else e)
            err = DatabaseUnavailableError("magec's database cannot be reached")
            return error_response(err.status_code, err.message, code=err.code, headers={"Retry-After": "5"})
        return JSONResponse({"status": "ok"})
