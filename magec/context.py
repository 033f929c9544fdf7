"""The application context: what both apps share in one process (config, store, runtime)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from magec.config import Config
from magec.config_view import StoreSnapshot
from magec.metrics import Metrics
from magec.store.store import Store

if TYPE_CHECKING:
    from magec.runtime.manager import RuntimeManager


@dataclass
class AppContext:
    config: Config
    store: Store[StoreSnapshot]
    runtime: RuntimeManager | None = None
    started_at: float = field(default_factory=time.time)
    metrics: Metrics = field(default_factory=Metrics)
    #: background services started with the server (re-embed jobs, epoch watcher…)
    extras: dict[str, Any] = field(default_factory=dict)


def refresh_gauges(ctx: AppContext) -> None:
    """Update the runtime gauges before a scrape."""
    if ctx.runtime is None:
        return
    rt = ctx.runtime.current()
    ctx.metrics.epoch.set(rt.epoch)
    valid = sum(1 for a in rt.apps.values() if a.status.valid)
    ctx.metrics.apps.labels("valid").set(valid)
    ctx.metrics.apps.labels("invalid").set(len(rt.apps) - valid)
    breakers = ctx.extras.get("breakers")
    if breakers is not None:
        for backend_id in rt.snapshot.backends:
            state = breakers.view(backend_id)["state"]
            ctx.metrics.backend_breaker_open.labels(backend_id).set(1 if state == "open" else 0)
