"""Choose the session service from ``settings.sessionProvider`` (default: the main database)."""

from __future__ import annotations

import logging
from typing import Any

from google.adk.sessions import BaseSessionService

from magec.config_view.snapshot import StoreSnapshot
from magec.context import AppContext

log = logging.getLogger(__name__)


def session_service_for(snap: StoreSnapshot, ctx: AppContext, cache: dict[str, Any]) -> BaseSessionService:
    """The session service for this snapshot, reusing instances across rebuilds (same config → same object).

    Empty or ``sqlite`` → magec's own database (SQLite or PostgreSQL per ``database.url``); ``redis`` →
    Redis with the provider's TTL. A provider that cannot be used falls back to the default with a warning.
    """
    from magec.memory.types import open_session_service

    provider = snap.memory_providers.get(snap.settings.session_provider) if snap.settings.session_provider else None
    if provider is not None and provider.type != "sqlite":
        key = f"{provider.type}:{provider.config.get('connectionString', '')}:{provider.config.get('ttl', '')}"
        if key not in cache:
            try:
                cache[key] = open_session_service(provider.type, provider.config, ctx.store.engine)
            except Exception as e:  # noqa: BLE001 - sessions fall back to the main database
                log.warning("session provider %r unusable (%s); using the main database", provider.name, e)
                key = "default"
        if key != "default":
            return cache[key]  # type: ignore[no-any-return]
    return default_session_service(ctx, cache)


def default_session_service(ctx: AppContext, cache: dict[str, Any]) -> BaseSessionService:
    """The session service on magec's own database (SQLite or PostgreSQL per ``database.url``),
    opened once per process: also what session retention prunes (:mod:`magec.memory.session_retention`)."""
    from magec.memory.types import open_session_service

    if "default" not in cache:
        svc = cache["default"] = open_session_service(
            "sqlite", {}, ctx.store.engine, cache_bytes=ctx.config.session_cache_bytes
        )
        if hasattr(svc, "quota"):  # the SQL service: no session opened beyond a client's limit
            svc.quota = ctx.extras.get("session_quota")
        events = getattr(svc, "events", None)  # the SQL service's parsed-event cache
        if events is not None:
            ctx.metrics.session_events_loaded.set_function(lambda: float(events.loaded))
            ctx.metrics.session_events_served.set_function(lambda: float(events.served))
            ctx.metrics.session_cache_bytes.set_function(lambda: float(events.nbytes))
    return cache["default"]  # type: ignore[no-any-return]
