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

``since`` is when the status last changed; ``config`` is the :func:`config_fingerprint` of the
backend's stored connection fields and of the secrets they reference, the check ran against. The ``magec_backend_up{backend}`` gauge
is 1 for up or degraded, 0 for down; ``magec_backend_check_seconds{backend}`` is the listing latency.

Beyond the periodic round the monitor checks a backend *at once* (so no list shows a stale status):

* when its connection changes — its fields, or the value of a secret a ``${KEY}`` there names (a
  store subscriber compares fingerprints after every committed change, on any replica): its circuit breaker is reset (faults of the old URL say nothing about the
  new one) and it is checked now; until then :func:`current` reports the old record as ``unknown``;
* when a real call on it fails for the backend's fault, or succeeds while it was failing or after
  a check found it down (``Breaker.checked_down``; a rejected key is down but no fault)
  (:meth:`magec.backends.breaker.Breakers.watch`), at most once a second per backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from magec.backends import registry
from magec.backends.base import BackendSpec
from magec.backends.breaker import CLOSED, Breakers, said_when
from magec.config import VAR_REF
from magec.errors import BackendConnectionError, BackendTimeoutError, MagecError, UnsupportedRoleError
from magec.redact import redact

if TYPE_CHECKING:
    from magec.context import AppContext

log = logging.getLogger("magec.health")

UP, DEGRADED, DOWN = "up", "degraded", "down"
#: statuses (live and from a manual "Test connection") that mean the backend cannot be used
UNREACHABLE = (DOWN, "unhealthy")


#: the stored fields a health record or a test result depends on
CONNECTION_FIELDS = ("type", "url", "apiKey", "headers")
#: a real call's outcome re-checks its backend at most this often (seconds)
POKE_INTERVAL = 1.0


class Keys(Protocol):
    """What a fingerprint needs of the store (:class:`magec.store.store.Store` is one)."""

    def plain(self, kind: str, raw: dict[str, Any]) -> dict[str, Any]:
        """``raw`` (a stored row of ``kind``) with its sensitive values decrypted."""
        ...

    def seal(self, text: str) -> str:
        """A keyed hash of ``text`` under this server's key."""
        ...


def config_fingerprint(raw: dict[str, Any], secrets: Mapping[str, dict[str, Any]], keys: Keys) -> str:
    """A short keyed hash of the connection a backend resolves to: its connection fields in clear
    and, for each ``${KEY}`` they reference, the clear value of the secret ``KEY`` in ``secrets``
    (the ``secrets`` rows by id). A health record or test result whose fingerprint differs from the
    backend's current one describes an older configuration. Clear values, not the stored
    ciphertext (new on every write): saving a secret or a key again with the same value keeps the
    last test; a new value re-checks. Keyed (the server's seal, :meth:`Keys.seal`), so a stored
    fingerprint tells nothing about a key to someone without the encryption key."""
    clear = keys.plain("backends", raw)
    data: dict[str, Any] = {k: clear.get(k) for k in CONNECTION_FIELDS}
    names = sorted({m.group(1) for m in VAR_REF.finditer(json.dumps(data, default=str))})
    if names:  # a backend without references keeps the fingerprint it always had
        rows = {row.get("key"): row for row in secrets.values() if isinstance(row, dict)}
        data["secrets"] = {
            name: keys.plain("secrets", rows[name]).get("value") if name in rows else None for name in names
        }
    return keys.seal(json.dumps(data, sort_keys=True, default=str))[:16]


UNKNOWN_HEALTH: dict[str, Any] = {
    "status": "unknown", "checkedAt": None, "lastError": None, "since": None, "latencyMs": None,
}


def current(health: dict[str, Any], fingerprint: str | None) -> dict[str, Any]:
    """The stored ``health`` record as it applies to the backend now (``fingerprint``: its
    :func:`config_fingerprint`; None: no backend to compare with): ``unknown`` (with ``stale:
    true``) when it was measured against another connection (the URL, key, headers, type or a
    secret they reference changed since), else the record itself (a record without a fingerprint
    is kept)."""
    record = {**UNKNOWN_HEALTH, **health}
    fp = record.pop("config", None)
    if fp and fingerprint is not None and fp != fingerprint:
        return {**UNKNOWN_HEALTH, "source": record.get("source"), "stale": True}
    return record


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
        #: backend id -> fingerprint of the connection fields last checked (by this process)
        self._seen: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poked: dict[str, float] = {}
        self._pending: set[str] = set()
        self._rescan: asyncio.Event | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    async def run(self) -> None:
        """Forever: one round, then sleep ``interval``; meanwhile re-check changed backends and
        backends whose real calls just failed (or recovered). A failing round is logged, never fatal."""
        unsubscribe = self.ctx.store.subscribe(self._on_change)
        stop_watch = self.breakers.watch(self.poke)
        changes = asyncio.create_task(self._follow_changes())
        try:
            while True:
                try:
                    await self.check_all()
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the monitor must outlive a bad round
                    log.exception("backend health round failed")
                await asyncio.sleep(self.interval)
        finally:
            unsubscribe()
            stop_watch()
            pending = [changes, *self._tasks]
            for task in pending:
                task.cancel()
            # checks finish unwinding before the caller closes the store under them
            await asyncio.gather(*pending, return_exceptions=True)

    async def check_all(self) -> None:
        snap = await self.ctx.store.snapshot()
        all_raw = await self.ctx.store.all_raw()
        ids = list(snap.backends)
        await asyncio.gather(*(self.check(snap, bid, all_raw) for bid in ids))

    # -- at once: config changes and real traffic ----------------------------------------------
    def _on_change(self, epoch: int) -> None:  # noqa: ARG002 - a store subscriber
        if self._rescan is not None:
            self._rescan.set()

    async def _follow_changes(self) -> None:
        self._rescan = asyncio.Event()
        while True:
            await self._rescan.wait()
            self._rescan.clear()
            try:
                await self.check_changed()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a bad re-check must not stop the follower
                log.exception("re-check of changed backends failed")

    async def check_changed(self) -> list[str]:
        """Check now every backend whose connection (its fields or a secret they reference) changed
        since this process last checked it (or that is new); its breaker is reset first. Returns
        the ids checked."""
        all_raw = await self.ctx.store.all_raw()
        backends, secrets = all_raw.get("backends", {}), all_raw.get("secrets", {})
        for gone in set(self._seen) - set(backends):
            self._seen.pop(gone, None)
        changed = [bid for bid, raw in backends.items() if self._seen.get(bid) != config_fingerprint(raw, secrets, self.ctx.store)]
        if not changed:
            return []
        for bid in changed:
            if bid in self._seen:
                breaker = self.breakers.peek(bid)
                if breaker is not None:
                    breaker.reset()
        snap = await self.ctx.store.snapshot()
        await asyncio.gather(
            *(self.check(snap, bid, all_raw, trip=False) for bid in changed if bid in snap.backends)
        )
        return changed

    def poke(self, backend_id: str) -> None:
        """A real call on ``backend_id`` failed for the backend's fault, or recovered: check it in
        the background, at once or (within :data:`POKE_INTERVAL` of the last such check) at the end
        of that window, so a burst of failures costs one listing and the last outcome is never lost."""
        if backend_id in self._pending:
            return
        self._pending.add(backend_id)
        delay = max(0.0, POKE_INTERVAL - (time.monotonic() - self._poked.get(backend_id, -POKE_INTERVAL)))

        async def recheck() -> None:
            try:
                if delay:
                    await asyncio.sleep(delay)
                self._poked[backend_id] = time.monotonic()
                self._pending.discard(backend_id)  # a poke during this check schedules the next one
                snap = await self.ctx.store.snapshot()
                if backend_id in snap.backends:
                    await self.check(snap, backend_id, trip=False)
            finally:
                self._pending.discard(backend_id)

        task = asyncio.ensure_future(recheck())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def check(
        self, snap: Any, backend_id: str, all_raw: dict[str, Any] | None = None, *, trip: bool = True
    ) -> dict[str, Any]:
        """Check one backend (``all_raw``: the stored rows, read when not given), store and return
        its health record. ``trip=False`` (the checks at
        once) only reports: the breaker is opened by the periodic round and real calls alone, so
        one slow listing right after a save cannot make the agents refuse calls."""
        # one check of a backend at a time in this process (a round, a change and a poke may meet)
        async with self._locks.setdefault(backend_id, asyncio.Lock()):
            return await self._check(snap, backend_id, all_raw, trip)

    async def _check(self, snap: Any, backend_id: str, all_raw: dict[str, Any] | None, trip: bool) -> dict[str, Any]:
        if all_raw is None:
            all_raw = await self.ctx.store.all_raw()
        raw = all_raw.get("backends", {}).get(backend_id, {})
        fingerprint = config_fingerprint(raw, all_raw.get("secrets", {}), self.ctx.store)
        self._seen[backend_id] = fingerprint
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
                # while turns are running on it, their own outcomes are the better evidence: a
                # process busy with a thousand streams lists slowly too (magec.runtime.admission)
                admission = self.ctx.extras.get("admission")
                if trip and not (admission is not None and admission.running(backend_id)):
                    self.breakers.get(backend_id, spec.name).trip(BackendTimeoutError(error, backend=spec.name))
            except MagecError as e:
                listed, error = False, redact(str(e))
                if trip:
                    self.breakers.get(backend_id, spec.name).trip(e)
            except Exception as e:  # noqa: BLE001 - any failure of the check is a finding
                listed, error = False, redact(f"{spec.name or backend_id}: {type(e).__name__}: {e}")
                # an unmapped failure (e.g. the transport's own connect error) is still "unreachable"
                if trip:
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
        if status == DOWN and spec is not None:
            self.breakers.get(backend_id, spec.name).checked_down = True
        elif breaker is not None:
            breaker.checked_down = False
        now = datetime.now(UTC).isoformat()
        previous = (await self.ctx.store.get_backend_status(backend_id))["health"]
        same = previous.get("status") == status and previous.get("config") in (None, fingerprint)
        since = previous.get("since") if same and previous.get("since") else now
        health = {
            "status": status,
            "checkedAt": now,
            "lastError": error,
            "since": since,
            "latencyMs": latency,
            "source": "monitor",
            "config": fingerprint,
        }
        if self._seen.get(backend_id) != fingerprint:
            return health  # the backend changed while this check ran: a newer check reports it
        if health != previous:
            await self.ctx.store.set_backend_status(backend_id, health=health)
        self.ctx.metrics.backend_up.labels(backend_id).set(0 if status == DOWN else 1)
        if latency is not None:
            self.ctx.metrics.backend_check_seconds.labels(backend_id).set(latency / 1000)
        return health


def agent_health(agent: dict[str, Any], statuses: dict[str, dict[str, Any]], names: dict[str, str],
                 mcp: Sequence[tuple[str, dict[str, Any]]] = ()) -> dict[str, Any]:
    """An agent's derived status from its backends' stored health: ``{status, reason}``.

    Per role (LLM, speech-to-text, text-to-speech) the first link of its chain (the backend, then
    its ``fallbacks``) that is not down serves it. ``status`` is ``backend_unreachable`` when every
    link of a role is down, ``fallback`` when a role is served by a fallback because the links
    before it are down ("running on fallback"), ``degraded`` when the serving backend is degraded,
    else ``ok`` (``unknown`` before any check).

    ``mcp``: (name, ``{status, lastError}``) of each MCP server the agent uses. One that is
    ``down`` makes an ``ok``/``unknown`` agent ``degraded`` (it answers, without those tools) with
    ``MCP server 'X' is unavailable: <error>; its tools are not offered``; a backend-degraded
    agent gets that reason appended; ``fallback`` and ``backend_unreachable`` stay as they are
    (they say more about whether the agent answers at all)."""
    worst = _backend_health(agent, statuses, names)
    down = [f"MCP server {name!r} is unavailable{': ' + h['lastError'] if h.get('lastError') else ''}; "
            "its tools are not offered" for name, h in mcp if h.get("status") == "down"]
    if not down:
        return worst
    reason = "; ".join(down)
    if worst["status"] in ("ok", "unknown"):
        return {"status": "degraded", "reason": reason}
    if worst["status"] == "degraded":
        return {"status": "degraded", "reason": f"{worst['reason']}; {reason}" if worst["reason"] else reason}
    return worst


def _backend_health(agent: dict[str, Any], statuses: dict[str, dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
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
        role_known = found.pop("known")  # popped first: ``known or pop()`` would skip it
        known = known or role_known
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
            since = f" since {said_when(h['since'])}" if h.get("since") else ""
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
