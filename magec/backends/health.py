"""Live backend health: a background check of every backend plus what real traffic shows.

Contract of :class:`HealthMonitor` (started and stopped by the composition root,
:func:`magec.server.open_context`): every ``interval`` seconds (``server.healthInterval`` /
``MAGEC_HEALTH_INTERVAL``, default 30) it lists each backend's models — free on every type, never a
billable call — bounded by ``min(backend timeout, interval, 10 s)``, and combines the outcome with
the backend's circuit breaker (:mod:`magec.backends.breaker`, fed by real calls):

* ``down`` — the listing failed (``lastError`` says why, redacted), or the breaker is open and no
  listing is possible for the type. A listing that fails for the backend's fault (unreachable,
  timeout, 5xx) also trips the breaker open, so the backend's agents answer at once with the reason
  until a probe call after the cool-down succeeds;
* ``degraded`` — the listing works but real calls are failing (breaker open, half-open, or
  failures counted since the last success);
* ``up`` — otherwise.

The result is written to the ``backend_status`` table's ``health`` column (no config epoch bump),
so every replica and the Admin UI read the same record::

    {"status", "checkedAt", "lastError", "since", "latencyMs", "source": "monitor"}

``since`` is when the status last changed. The ``magec_backend_up{backend}`` gauge is 1 for up or
degraded, 0 for down; ``magec_backend_check_seconds{backend}`` is the listing latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from magec.backends import registry
from magec.backends.base import BackendSpec
from magec.backends.breaker import CLOSED, Breakers
from magec.errors import BackendConnectionError, BackendTimeoutError, MagecError, UnsupportedRoleError
from magec.redact import redact

if TYPE_CHECKING:
    from magec.context import AppContext

log = logging.getLogger("magec.health")

UP, DEGRADED, DOWN = "up", "degraded", "down"
#: statuses (live and from a manual "Test connection") that mean the backend cannot be used
UNREACHABLE = (DOWN, "unhealthy")


async def _list_models(spec: BackendSpec, timeout: float) -> None:
    listing = registry.get(spec.type).models(spec)
    try:
        await asyncio.wait_for(listing.list_models(), timeout=timeout)
    finally:
        closer = getattr(getattr(listing, "connection", None), "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


class HealthMonitor:
    """Checks every backend of ``ctx`` every ``interval`` seconds; :meth:`check_all` runs one round."""

    def __init__(self, ctx: AppContext, breakers: Breakers, interval: float = 30.0) -> None:
        self.ctx = ctx
        self.breakers = breakers
        self.interval = max(0.05, interval)

    async def run(self) -> None:
        """Forever: one round, then sleep ``interval``. A failing round is logged, never fatal."""
        while True:
            try:
                await self.check_all()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the monitor must outlive a bad round
                log.exception("backend health round failed")
            await asyncio.sleep(self.interval)

    async def check_all(self) -> None:
        snap = await self.ctx.store.snapshot()
        ids = list(snap.backends)
        await asyncio.gather(*(self.check(snap, bid) for bid in ids))

    async def check(self, snap: Any, backend_id: str) -> dict[str, Any]:
        """Check one backend, store and return its health record."""
        spec = snap.backend_spec(backend_id)
        error: str | None = None
        listed: bool | None = None
        latency: float | None = None
        if spec is not None:
            start = time.perf_counter()
            try:
                # not bounded by the interval: a short interval must not turn a slow listing into "down"
                await _list_models(spec, min(spec.timeout, 10.0))
                listed = True
                tripped = self.breakers.peek(backend_id)
                if tripped is not None and tripped.tripped:
                    # the check opened it and the check now succeeds: the same evidence closes it
                    # (a breaker opened by failing real calls stays open: listing works, calls don't)
                    tripped.success()
            except UnsupportedRoleError:
                listed = None
            except TimeoutError:
                listed, error = False, f"{spec.name or backend_id}: model listing timed out"
                self.breakers.get(backend_id, spec.name).trip(BackendTimeoutError(error, backend=spec.name))
            except MagecError as e:
                listed, error = False, redact(str(e))
                self.breakers.get(backend_id, spec.name).trip(e)
            except Exception as e:  # noqa: BLE001 - any failure of the check is a finding
                listed, error = False, redact(f"{spec.name or backend_id}: {type(e).__name__}: {e}")
                # an unmapped failure (e.g. the transport's own connect error) is still "unreachable"
                self.breakers.get(backend_id, spec.name).trip(BackendConnectionError(error, backend=spec.name))
            latency = round((time.perf_counter() - start) * 1000, 1)
        breaker = self.breakers.peek(backend_id)
        trouble = breaker is not None and (breaker.state != CLOSED or breaker.failures > 0)
        if listed is False:
            status = DOWN
        elif listed is None and breaker is not None and breaker.state != CLOSED:
            status, error = DOWN, breaker.last_error
        elif trouble:
            status, error = DEGRADED, breaker.last_error if breaker else None
        else:
            status = UP
        now = datetime.now(UTC).isoformat()
        previous = (await self.ctx.store.get_backend_status(backend_id))["health"]
        since = previous.get("since") if previous.get("status") == status and previous.get("since") else now
        health = {
            "status": status,
            "checkedAt": now,
            "lastError": error,
            "since": since,
            "latencyMs": latency,
            "source": "monitor",
        }
        if health != previous:
            await self.ctx.store.set_backend_status(backend_id, health=health)
        self.ctx.metrics.backend_up.labels(backend_id).set(0 if status == DOWN else 1)
        if latency is not None:
            self.ctx.metrics.backend_check_seconds.labels(backend_id).set(latency / 1000)
        return health


def agent_health(agent: dict[str, Any], statuses: dict[str, dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    """An agent's derived status from its backends' stored health: ``{status, reason}``.

    Per role (LLM, speech-to-text, text-to-speech) the first link of its chain (the backend, then
    its ``fallbacks``) that is not down serves it. ``status`` is ``backend_unreachable`` when every
    link of a role is down, ``fallback`` when a role is served by a fallback because the links
    before it are down ("running on fallback"), ``degraded`` when the serving backend is degraded,
    else ``ok`` (``unknown`` before any check)."""
    roles = [("LLM", agent.get("llm")), ("speech-to-text", agent.get("transcription")),
             ("text-to-speech", agent.get("tts"))]
    rank = {"ok": 0, "degraded": 1, "fallback": 2, "backend_unreachable": 3}
    worst: dict[str, Any] = {"status": "ok", "reason": None}
    known = False
    for role, ref in roles:
        ref = ref if isinstance(ref, dict) else {}
        links = [ref.get("backend")] + [f.get("backend") for f in ref.get("fallbacks") or [] if isinstance(f, dict)]
        chain = [str(b) for b in links if b]
        if not chain:
            continue
        found = _role_health(role, chain, statuses, names)
        known = known or found.pop("known")
        if rank[found["status"]] > rank[worst["status"]]:
            worst = found
    if worst["status"] == "ok" and not known:
        return {"status": "unknown", "reason": None}
    return worst


def _role_health(role: str, chain: list[str], statuses: dict[str, dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    known = False
    down: list[str] = []
    for bid in chain:
        h = statuses.get(bid) or {}
        st = h.get("status")
        known = known or st not in (None, "unknown")
        label = names.get(bid, bid)
        if st in UNREACHABLE:
            since = f" since {h['since']}" if h.get("since") else ""
            why = f": {h['lastError']}" if h.get("lastError") else ""
            down.append(f"{role} backend {label} unreachable{since}{why}")
            continue
        if down:
            return {"status": "fallback", "reason": f"{down[0]}; running on fallback {label}", "known": known}
        if st == DEGRADED:
            why = f": {h['lastError']}" if h.get("lastError") else ""
            return {"status": "degraded", "reason": f"{role} backend {label} degraded{why}", "known": known}
        return {"status": "ok", "reason": None, "known": known}
    reason = down[0] if len(down) == 1 else f"{down[0]}; every fallback is unreachable too"
    return {"status": "backend_unreachable", "reason": reason, "known": known}
