"""API views of stored resources: sensitive values hidden, observed state and references added.

Generic over kinds: what is hidden comes from the model (``sensitive``, ``secret_urls``,
``hidden``), validity is added to every ``runnable`` kind; only observed backend state (health,
circuit breaker, capabilities, "used by"), an MCP server's health as this process last saw it, an
agent's health derived from its backends' and MCP servers', and a client's ``warnings`` (no
agent it may run) are per-kind extras (:data:`_EXTRAS`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from magec.context import AppContext
from magec.resources import KINDS, references, singular
from magec.store import sensitive


def used_by(backend_id: str, all_raw: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    roles = {
        "llm.backend": "llm",
        "transcription.backend": "stt",
        "tts.backend": "tts",
        "embedding.backend": "embeddings",
    }
    out = []
    for kind in ("agents", "memoryProviders"):
        label = singular(kind)
        for rid, data in all_raw.get(kind, {}).items():
            for ref in references.refs_of(kind, data):
                if ref.target == backend_id and ref.field in roles:
                    out.append(
                        {"kind": label, "id": rid, "name": data.get("name", ""), "role": roles[ref.field]}
                    )
    return out


async def public(
    ctx: AppContext,
    kind: str,
    raw: dict[str, Any],
    all_raw: dict[str, dict[str, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """What the Admin API returns for one resource."""
    model = KINDS[kind]
    view = sensitive.redact_for_api(model.sensitive, raw, urls=model.secret_urls, cipher=ctx.store.cipher)
    for name in model.hidden:  # e.g. a client's tokenHash: the clear token is added only by the request issuing it
        view.pop(name, None)
    legacy = _LEGACY.get(kind)
    if legacy is not None:
        legacy(view)
    extra = _EXTRAS.get(kind)
    if extra is not None:
        await extra(ctx, raw, view, all_raw)
    if model.runnable and ctx.runtime is not None:
        state = ctx.runtime.status_of(raw["id"])
        view["valid"] = state.valid
        view["invalidReason"] = state.reason
        # True while the runtime has not yet rebuilt from the latest change (validity may be stale)
        view["pending"] = ctx.runtime.current().epoch < ctx.store.epoch
    elif model.runnable:
        view["valid"] = True
        view["invalidReason"] = None
    return view


async def _backend_view(
    ctx: AppContext, raw: dict[str, Any], view: dict[str, Any], all_raw: dict[str, dict[str, dict[str, Any]]] | None
) -> None:
    """Observed health, probed (or declared) capabilities, and who uses the backend."""
    from magec.backends.health import config_fingerprint, current
    from magec.backends.test_record import last_test

    all_raw = all_raw if all_raw is not None else await ctx.store.all_raw()
    status = await ctx.store.get_backend_status(raw["id"])
    # a record measured against other connection fields (URL, key, type changed since) is "unknown"
    fingerprint = config_fingerprint(raw, all_raw.get("secrets", {}), ctx.store)  # once: both records use it
    view["health"] = current(status["health"], fingerprint)
    breakers = ctx.extras.get("breakers")
    view["breaker"] = breakers.view(raw["id"]) if breakers is not None else None
    test = last_test(status["capabilities"], fingerprint)
    view["capabilities"] = (test or {}).get("capabilities") or _declared(raw.get("type", ""))
    view["lastTest"] = test
    view["usedBy"] = used_by(raw["id"], all_raw)


#: an MCP server's health before this process has connected to (or tested) it
_MCP_UNKNOWN: dict[str, Any] = {"status": "unknown", "lastError": None, "checkedAt": None}


def _mcp_health(ctx: AppContext, server_id: str) -> dict[str, Any]:
    """What this process's MCP pool last observed (no connection is made: a GET stays cheap)."""
    pool = ctx.runtime.mcp if ctx.runtime is not None else None
    return pool.health(server_id) if pool is not None else dict(_MCP_UNKNOWN)


async def _mcp_view(
    ctx: AppContext, raw: dict[str, Any], view: dict[str, Any], all_raw: dict[str, dict[str, dict[str, Any]]] | None
) -> None:
    """``health: {status: up | down | unknown, lastError, checkedAt}`` (per process, see docs)."""
    view["health"] = _mcp_health(ctx, raw["id"])


async def _agent_view(
    ctx: AppContext, raw: dict[str, Any], view: dict[str, Any], all_raw: dict[str, dict[str, dict[str, Any]]] | None
) -> None:
    """The agent's status derived from its backends' live health and its MCP servers' last
    observed health (``health: {status, reason}``)."""
    from magec.backends.health import agent_health, config_fingerprint, current

    all_raw = all_raw if all_raw is not None else await ctx.store.all_raw()
    backends = all_raw.get("backends", {})
    refs = [raw.get(role) or {} for role in ("llm", "transcription", "tts")]
    links = [r.get("backend") for r in refs] + [
        f.get("backend") for r in refs for f in r.get("fallbacks") or [] if isinstance(f, dict)
    ]
    ids = set(links) & set(backends)
    secrets = all_raw.get("secrets", {})
    statuses = {bid: current((await ctx.store.get_backend_status(bid))["health"],
                             config_fingerprint(backends[bid], secrets, ctx.store))
                for bid in ids if bid}
    names = {bid: str(b.get("name") or bid) for bid, b in backends.items()}
    servers = all_raw.get("mcpServers", {})
    mcp = [(str(servers[mid].get("name") or mid), _mcp_health(ctx, mid))
           for mid in dict.fromkeys(raw.get("mcpServers") or []) if mid in servers]
    view["health"] = agent_health(raw, statuses, names, mcp)


def _agent_legacy(view: dict[str, Any]) -> None:
    """Magec G1's flat ``tts.speed`` next to magec's ``tts.config.openai.speed`` (the same value), so
    Magec's admin UI shows it and sends it back unchanged (the store reads it back into config)."""
    tts = view.get("tts")
    speed = ((tts or {}).get("config") or {}).get("openai", {}).get("speed") if isinstance(tts, dict) else None
    if isinstance(tts, dict) and speed not in (None, 0, ""):
        tts["speed"] = speed


def _client_legacy(view: dict[str, Any]) -> None:
    """Magec's UI shows ``token`` (and offers "regenerate") only when it is non-empty; tokens are
    stored hashed, so a view carries the *preview* there (``mgc_abcd…wxyz``: recognisable, not
    usable). The clear token is in the answer of the request that issued it, and only there."""
    view.setdefault("token", view.get("tokenPreview") or "")


#: kind -> Magec's legacy field forms added to its view (the store accepts them back)
_LEGACY: dict[str, Callable[[dict[str, Any]], None]] = {"agents": _agent_legacy, "clients": _client_legacy}


#: kind -> what its view adds beyond the stored record (observed state kept outside the resource)
async def _secret_view(
    _ctx: AppContext, raw: dict[str, Any], view: dict[str, Any], _all: dict[str, dict[str, dict[str, Any]]] | None
) -> None:
    """``needsValue``: the secret holds nothing (imported from Magec without its key): every
    ``${KEY}`` of it expands to nothing until someone types the value again. Never the value."""
    view["needsValue"] = not raw.get("value")


async def _client_view(
    _ctx: AppContext, raw: dict[str, Any], view: dict[str, Any], _all: dict[str, dict[str, dict[str, Any]]] | None
) -> None:
    """``warnings``: what makes every turn of the client fail, said before one does (Magec saves
    such a client, and so do we: an operator may fill it in later). Saves check that each allowed
    agent exists and deletes remove the entry, so an empty list is the one such problem."""
    view["warnings"] = [] if raw.get("allowedAgents") else [
        "no allowed agents: it cannot run — every turn it asks for is refused until allowedAgents "
        "names an agent or flow"]


_EXTRAS: dict[str, Callable[..., Awaitable[None]]] = {
    "backends": _backend_view, "agents": _agent_view, "secrets": _secret_view, "mcpServers": _mcp_view,
    "clients": _client_view,
}


def _declared(type_name: str) -> dict[str, Any]:
    from magec.backends import registry

    try:
        return registry.get(type_name).declared.to_json()
    except Exception:  # noqa: BLE001 - an unavailable type has no declared capabilities
        return {}
