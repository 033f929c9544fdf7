"""Choose the session service from ``settings.sessionProvider`` (default: the main database)."""

from __future__ import annotations

import logging
from typing import Any

from google.adk.sessions import BaseSessionService

from magec.context import AppContext
from magec.store.snapshot import StoreSnapshot

log = logging.getLogger(__name__)


def _default(ctx: AppContext) -> BaseSessionService:
    from magec.memory.sql_sessions import SqlSessionService

    return SqlSessionService(ctx.store.engine)


def session_service_for(snap: StoreSnapshot, ctx: AppContext, cache: dict[str, Any]) -> BaseSessionService:
    """The session service for this snapshot, reusing instances across rebuilds (same config → same object)."""
    provider = (
        snap.memory_providers.get(snap.settings.session_provider) if snap.settings.session_provider else None
    )
    if provider is None or provider.type == "sqlite":
        key = "default"
        if key not in cache:
            cache[key] = _default(ctx)
        return cache[key]  # type: ignore[no-any-return]
    if provider.type == "redis":
        from magec.memory.sessions import RedisSessionService, parse_duration

        url = str(provider.config.get("connectionString", ""))
        ttl = parse_duration(str(provider.config.get("ttl") or "24h"), default=86400)
        key = f"redis:{url}:{ttl}"
        if key not in cache:
            cache[key] = RedisSessionService(url, ttl_seconds=ttl)
        return cache[key]  # type: ignore[no-any-return]
    log.warning("session provider %s has unsupported type %s; using the default", provider.id, provider.type)
    return session_service_for(
        StoreSnapshot(snap.epoch, snap.settings.model_copy(update={"session_provider": ""})), ctx, cache
    )
