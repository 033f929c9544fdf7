"""API views of stored resources: sensitive values hidden, observed state and references added."""

from __future__ import annotations

from typing import Any

from magec.context import AppContext
from magec.resources import KINDS
from magec.store import references, sensitive


def used_by(backend_id: str, all_raw: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    roles = {
        "llm.backend": "llm",
        "transcription.backend": "stt",
        "tts.backend": "tts",
        "embedding.backend": "embeddings",
    }
    out = []
    for kind, label in (("agents", "agent"), ("memoryProviders", "memoryProvider")):
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
    if kind == "secrets":
        view.pop("value", None)
        view.pop("valueSet", None)
    if kind == "clients":
        view.pop("tokenHash", None)
        token = view.pop("_newToken", None)
        if token:
            view["token"] = token
    if kind == "backends":
        all_raw = all_raw if all_raw is not None else await ctx.store.all_raw()
        status = await ctx.store.get_backend_status(raw["id"])
        view["health"] = {"status": "unknown", "checkedAt": None, "lastError": None, **status["health"]}
        view["capabilities"] = status["capabilities"] or _declared(raw.get("type", ""))
        view["usedBy"] = used_by(raw["id"], all_raw)
    if kind in ("agents", "flows") and ctx.runtime is not None:
        state = ctx.runtime.status_of(raw["id"])
        view["valid"] = state.valid
        view["invalidReason"] = state.reason
        # True while the runtime has not yet rebuilt from the latest change (validity may be stale)
        view["pending"] = ctx.runtime.current().epoch < ctx.store.epoch
    elif kind in ("agents", "flows"):
        view["valid"] = True
        view["invalidReason"] = None
    return view


def _declared(type_name: str) -> dict[str, Any]:
    from magec.backends import registry

    try:
        return registry.get(type_name).declared.to_json()
    except Exception:  # noqa: BLE001 - an unavailable type has no declared capabilities
        return {}
