"""A backend's last "Test connection" result, as kept for its card (``lastTest`` in the Admin API).

Contract:

* :func:`record` turns a probe report (:mod:`magec.backends.probe`) of a *saved* backend into the
  record stored in the ``backend_status.capabilities`` column: what was measured (per role: ok,
  latency, detail, model), the roles that worked (``measured``), warnings, the embedding dimension,
  when (``testedAt``) and against which connection fields (``config``, a
  :func:`magec.backends.health.config_fingerprint`). No clear secret is stored.
* :func:`last_test` reads it back for the view: ``None`` when there is none, when it predates
  this format, or when it was measured against other connection fields (the URL, key, headers or
  type changed since: the card then says "not tested" instead of showing old results).
* :class:`ProbeCache` keeps the reports of *unsaved* backends tested in the New/Edit dialog for
  :data:`ProbeCache.TTL` seconds, keyed by a hash of the expanded connection (type, URL, key,
  headers; in memory only), so saving the backend right after its full probe keeps those results
  (``POST /backends/{id}/test`` with ``{"reuse": true}``) instead of throwing them away or paying
  for a second probe. Per process: on another replica the reuse misses and a quick test runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from magec.backends.base import BackendSpec


def record(report: dict[str, Any], fingerprint: str) -> dict[str, Any]:
    """The stored form of ``report`` (the JSON of a probe) for the saved backend whose connection
    is ``fingerprint`` (:func:`~magec.backends.health.config_fingerprint`)."""
    caps = dict(report.get("capabilities") or {})
    return {
        "capabilities": caps,
        "ok": bool(report.get("ok")),
        "full": bool(report.get("full")),
        "roles": report.get("roles") or {},
        "measured": list(report.get("measured") or []),
        "warnings": list(report.get("warnings") or []),
        "error": report.get("error"),
        "embeddingDimension": caps.get("embeddingDimension"),
        "modelCount": len(report.get("models") or []),
        "testedAt": datetime.now(UTC).isoformat(),
        "config": fingerprint,
    }


def last_test(stored: dict[str, Any], fingerprint: str) -> dict[str, Any] | None:
    """The stored test record as it applies to the backend now (``fingerprint``: its
    :func:`~magec.backends.health.config_fingerprint`; see the module contract)."""
    if not stored or "testedAt" not in stored:
        return None
    if stored.get("config") != fingerprint:
        return None
    return {k: v for k, v in stored.items() if k != "config"}


def spec_key(spec: BackendSpec) -> str:
    """A hash of the expanded connection a probe ran against (kept in memory only)."""
    data = [spec.type, spec.url, spec.api_key, sorted(spec.headers.items())]
    return hashlib.sha256(json.dumps(data, default=str).encode()).hexdigest()


class ProbeCache:
    """Recent probe reports of unsaved backends, by :func:`spec_key` (bounded, expiring)."""

    TTL = 900.0
    MAX = 64

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, dict[str, Any]]] = {}

    def put(self, spec: BackendSpec, report: dict[str, Any]) -> None:
        now = time.monotonic()
        self._items = {k: v for k, v in self._items.items() if now - v[0] < self.TTL}
        while len(self._items) >= self.MAX:
            self._items.pop(next(iter(self._items)))
        self._items[spec_key(spec)] = (now, report)

    def take(self, spec: BackendSpec) -> dict[str, Any] | None:
        """The report of a probe of the same connection in the last :data:`TTL` s (removed)."""
        hit = self._items.pop(spec_key(spec), None)
        if hit is None or time.monotonic() - hit[0] >= self.TTL:
            return None
        return hit[1]
