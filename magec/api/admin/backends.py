"""Backend extras: type table, test connection (saved or unsaved), cached model list."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from magec.api.errors import json_body, json_object
from magec.backends import registry, test_record
from magec.backends.base import BackendSpec, limits_of
from magec.backends.health import UNREACHABLE, UP, config_fingerprint
from magec.config import VAR_REF
from magec.config_view.snapshot import ENVIRONMENT, expand
from magec.context import AppContext
from magec.errors import MagecError, ValidationError
from magec.redact import redact
from magec.resources import Backend
from magec.store import sensitive
from magec.store.validation import from_pydantic

_PROBE_KEYS = {
    "full": "full",
    "model": "model",
    "embeddingModel": "embedding_model",
    "ttsModel": "tts_model",
    "ttsVoice": "tts_voice",
    "sttModel": "stt_model",
    "timeout": "timeout",
}


def _probe_args(body: dict[str, Any]) -> dict[str, Any]:
    return {py: body[js] for js, py in _PROBE_KEYS.items() if body.get(js) not in (None, "")}


async def _spec_from_body(
    ctx: AppContext, body: dict[str, Any], stored: dict[str, Any] | None, warnings: list[str]
) -> BackendSpec:
    """An expanded spec from an unsaved body (``warnings`` gets :func:`missing_secrets`'s).

    With a saved backend (``stored``) the same rules as saving apply: an empty apiKey or header
    value, or the masked URL, falls back to the stored one — but only while ``type`` and ``url``
    are unchanged. Testing a stored key against another URL is a 400 naming ``url`` (the key is
    write-only: sending it to any URL would let anyone with admin access read it off the wire)."""
    import pydantic

    try:
        model = Backend.model_validate({"name": body.get("name") or "unsaved", **body})
    except pydantic.ValidationError as e:
        raise from_pydantic(e) from None
    registry.get(model.type)
    data = model.dump()
    if stored is not None:
        cipher = ctx.store.cipher
        kept = sensitive.protect(
            Backend.sensitive, data, stored, cipher, urls=Backend.secret_urls, bound=Backend.bound
        )
        data = sensitive.decrypt_all(Backend.sensitive + Backend.secret_urls, kept, cipher)
    snap = await ctx.store.snapshot()
    values = snap.secret_values
    warnings.extend(missing_secrets(data, values))
    return BackendSpec(
        id=model.id or "unsaved",
        name=model.name,
        type=model.type,
        url=expand(data["url"], values),
        api_key=expand(data["apiKey"], values),
        headers={k: expand(v, values) for k, v in data["headers"].items()},
        timeout=model.timeout,
        **limits_of(model),
    )


def missing_secrets(data: dict[str, Any], values: dict[str, str]) -> list[str]:
    """Warnings for the ``${NAME}`` references of a backend's connection fields (decrypted
    ``apiKey``, header values, ``url``) that name no secret and no environment variable: each
    expands to nothing, so the provider's "401 unauthorized" would otherwise be all the user saw
    of a typo'd or deleted secret. A ``${NAME:-default}`` is fine as it is."""
    fields = [("apiKey", data.get("apiKey")), ("url", data.get("url"))]
    fields += [(f"headers.{k}", v) for k, v in (data.get("headers") or {}).items()]
    out = []
    for field, text in fields:
        if not isinstance(text, str) or "${" not in text:
            continue
        for m in VAR_REF.finditer(text):
            name = m.group(1)
            if m.group(2) is None and not values.get(name) and not ENVIRONMENT.get(name):
                out.append(
                    f"{field}: ${{{name}}} names no secret (nor environment variable), so it was sent "
                    f"empty: create a secret with key {name} (Secrets) or fix the reference"
                )
    return out


async def run_probe(spec: BackendSpec, args: dict[str, Any]) -> dict[str, Any]:
    from magec.backends.probe import test_backend

    report = await test_backend(spec, **args)
    return dict(report.to_json())


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/backends", tags=["backends"])
    probes = ctx.extras.setdefault("probe_cache", test_record.ProbeCache())

    @r.get("/types", summary="Backend types and the roles each can serve")
    async def types() -> list[dict[str, Any]]:
        out = []
        for bt in registry.available():
            out.append(
                {
                    "type": bt.name,
                    "displayName": bt.display_name,
                    "description": bt.description,
                    "defaultUrl": bt.default_url,
                    "capabilities": bt.declared.to_json(),
                    "voiceOptionsSchema": bt.voice_options_schema(),
                }
            )
        return out

    @r.post("/test", summary="Test an unsaved backend body")
    async def test_unsaved(request: Request) -> dict[str, Any]:
        body = await json_object(request)
        bid = body.get("id")
        if bid is not None and not isinstance(bid, str):  # the id of the saved backend being edited
            raise ValidationError("id: must be a string", field="id")
        stored = await ctx.store.get("backends", bid) if bid else None
        warnings: list[str] = []
        spec = await _spec_from_body(ctx, body, stored, warnings)
        result = await run_probe(spec, _probe_args(body))
        result["warnings"] = warnings + list(result.get("warnings") or [])
        probes.put(spec, result)  # kept a while: saving right after keeps these results on the card
        return result

    @r.post("/{id}/test", summary="Test a saved backend; stores health and the test's results")
    async def test_saved(id: str, request: Request) -> dict[str, Any]:
        raw = await ctx.store.get("backends", id)
        body = await json_body(request) if (await request.body()).strip() else {}
        body = body if isinstance(body, dict) else {}
        snap = await ctx.store.snapshot()
        spec = snap.backend_spec(id)
        if spec is None:
            raise ValidationError(f"backend {raw.get('name')!r} cannot be expanded")
        # {"reuse": true}: the dialog just tested this very connection unsaved (then saved it)
        reused = probes.take(spec) if body.get("reuse") else None
        result = reused if reused is not None else await run_probe(spec, _probe_args(body))
        plain = sensitive.decrypt_all(Backend.sensitive + Backend.secret_urls, raw, ctx.store.cipher)
        unnamed = missing_secrets(plain, snap.secret_values)
        warnings = unnamed + [w for w in result.get("warnings") or [] if w not in unnamed]
        result = {**result, "reused": reused is not None, "warnings": warnings}
        previous = (await ctx.store.get_backend_status(id))["health"]
        status = "healthy" if result.get("ok") else "unhealthy"
        now = datetime.now(UTC).isoformat()
        fingerprint = config_fingerprint(raw, (await ctx.store.all_raw()).get("secrets", {}), ctx.store)
        same = previous.get("status") in ((UP, status) if result.get("ok") else UNREACHABLE)
        health = {
            "status": status,
            "checkedAt": now,
            "lastError": redact(result.get("error")) or None,
            "since": previous.get("since") if same and previous.get("config") == fingerprint else now,
            "latencyMs": (result.get("roles", {}).get("models") or {}).get("latencyMs"),
            "source": "test",
            "config": fingerprint,
        }
        fields: dict[str, Any] = {"health": health, "capabilities": test_record.record(result, fingerprint)}
        if result.get("models"):
            fields["models"] = [{"id": m} if isinstance(m, str) else m for m in result["models"]]
        await ctx.store.set_backend_status(id, **fields)
        return result

    @r.get("/{id}/models", summary="Cached model list (refresh=true asks the provider)")
    async def models(id: str, refresh: bool = False) -> dict[str, Any]:
        await ctx.store.get("backends", id)
        status = await ctx.store.get_backend_status(id)
        cached = status["models"]
        if cached and not refresh:
            return {"models": cached, "cached": True, "error": None, "fetchedAt": status["modelsAt"]}
        snap = await ctx.store.snapshot()
        spec = snap.backend_spec(id)
        assert spec is not None
        try:
            listing = registry.get(spec.type).models(spec)
            found = await asyncio.wait_for(listing.list_models(), timeout=min(spec.timeout, 10.0))
        except (MagecError, TimeoutError) as e:
            msg = redact(str(e) or "timed out listing models")
            return {"models": cached, "cached": True, "error": msg, "fetchedAt": status["modelsAt"]}
        data = [m.to_json() for m in found]
        await ctx.store.set_backend_status(id, models=data)
        return {"models": data, "cached": False, "error": None, "fetchedAt": datetime.now(UTC).isoformat()}

    return r
