"""The application context: what both apps share in one process (config, store, runtime)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from magec.config import Config
from magec.store.store import Store

if TYPE_CHECKING:
    from magec.runtime.manager import RuntimeManager


@dataclass
class AppContext:
    config: Config
    store: Store
    runtime: RuntimeManager | None = None
    started_at: float = field(default_factory=time.time)
    #: background services started with the server (re-embed jobs, epoch watcher…)
    extras: dict[str, Any] = field(default_factory=dict)
