"""Save-time validation: shape (pydantic), kind rules, and references to existing resources.

Every failure is a :class:`magec.errors.ValidationError` whose message starts with the offending
field (camelCase dotted path, e.g. ``llm.backend`` or ``root.steps[1].agentId``).
"""

from __future__ import annotations

import hashlib
import secrets as pysecrets
from typing import Any

import pydantic

from magec.errors import ValidationError
from magec.resources import KINDS, Settings
from magec.resources.models import FlowStep
from magec.store import references, sensitive
from magec.store.crypto import Cipher

MEMORY_TYPES: dict[str, dict[str, Any]] = {
    "sqlite": {"categories": ["session", "longterm"], "required": []},
    "redis": {"categories": ["session"], "required": ["connectionString"]},
    "postgres": {"categories": ["longterm"], "required": ["connectionString"]},
}


def _camel(part: str) -> str:
    head, *rest = part.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def loc_to_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = _camel(str(part))
            if name in ("function-after", "function-before"):
                continue
            path += f".{name}" if path else name
    return path


def from_pydantic(err: pydantic.ValidationError, prefix: str = "") -> ValidationError:
    first = err.errors()[0]
    path = loc_to_path(tuple(first["loc"]))
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        msg = "is required"
    elif msg.startswith(path.rsplit(".", 1)[-1] + " "):
        return ValidationError(f"{path}: {msg}" if "." in path else msg, field=path)
    return ValidationError(f"{path}: {msg}" if path else msg, field=path or None)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "mgc_" + pysecrets.token_urlsafe(32)


def token_preview(token: str) -> str:
    return token[:8] + "…" + token[-4:]


async def prepare(
    kind: str,
    body: dict[str, Any],
    old: dict[str, Any] | None,
    all_raw: dict[str, dict[str, dict[str, Any]]],
    cipher: Cipher,
    *,
    importing: bool = False,
) -> dict[str, Any]:
    """Validate ``body`` for ``kind`` and return the raw dict to store (id not set)."""
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object")
    model_cls = KINDS[kind]
    try:
        model = model_cls.model_validate(body)
    except pydantic.ValidationError as e:
        raise from_pydantic(e) from None
    data = model.dump()
    data.pop("id", None)
    if not (importing and kind == "secrets"):
        _RULES.get(kind, lambda *_: None)(data, old, all_raw)
    elif any(s.get("key") == data["key"] for s in all_raw.get("secrets", {}).values()):
        raise ValidationError(f"key: a secret with key {data['key']!r} already exists", field="key")
    for ref in references.refs_of(kind, data):
        if not any(ref.target in all_raw.get(t, {}) for t in ref.target_kinds):
            what = " or ".join(t.rstrip("s") for t in ref.target_kinds)
            raise ValidationError(f"{ref.field}: {what} {ref.target!r} not found", field=ref.field)
    if kind == "clients":
        _client_token(data, body, old, importing)
    data = sensitive.protect(
        model_cls.sensitive, data, old, cipher, urls=model_cls.secret_urls, bound=model_cls.bound
    )
    return data


def _client_token(
    data: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None, importing: bool
) -> None:
    """Tokens are stored hashed; the clear token is returned once (create / regenerate)."""
    data.pop("token", None)
    if old is not None:
        data["tokenHash"] = old.get("tokenHash", "")
        data["tokenPreview"] = old.get("tokenPreview", "")
        return
    token = str(body.get("token") or "") if importing else ""
    token = token or new_token()
    data["tokenHash"] = hash_token(token)
    data["tokenPreview"] = token_preview(token)
    data["_newToken"] = token  # removed by the API layer after showing it once


async def prepare_settings(
    body: dict[str, Any], all_raw: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object")
    try:
        data = Settings.model_validate(body).dump()
    except pydantic.ValidationError as e:
        raise from_pydantic(e) from None
    providers = all_raw.get("memoryProviders", {})
    for field, category in (("sessionProvider", "session"), ("longTermProvider", "longterm")):
        pid = data.get(field)
        if not pid:
            continue
        if pid not in providers:
            raise ValidationError(f"{field}: memory provider {pid!r} not found", field=field)
        if providers[pid].get("category") != category:
            raise ValidationError(
                f"{field}: memory provider {pid!r} is not a {category} provider", field=field
            )
    return data


# -- kind rules --------------------------------------------------------------------------------
def _backend_rules(data: dict[str, Any], old: dict[str, Any] | None, all_raw: Any) -> None:
    from magec.backends import registry

    if data["type"] not in registry.type_names():
        raise ValidationError(
            f"type: unknown backend type {data['type']!r} (expected one of: {', '.join(registry.type_names())})",
            field="type",
        )


def _backend_roles(backend: dict[str, Any]) -> list[str] | None:
    from magec.backends import registry

    try:
        return list(registry.get(backend["type"]).declared.roles)
    except (ImportError, AttributeError, ValidationError):
        return None


def _agent_rules(data: dict[str, Any], old: dict[str, Any] | None, all_raw: dict[str, Any]) -> None:
    backends = all_raw.get("backends", {})
    for section, role, label in (
        ("transcription", "stt", "speech-to-text"),
        ("tts", "tts", "text-to-speech"),
        ("llm", "llm", "chat"),
    ):
        bid = data[section]["backend"]
        if bid and bid in backends:
            roles = _backend_roles(backends[bid])
            if roles is not None and role not in roles:
                btype = backends[bid]["type"]
                raise ValidationError(
                    f"{section}.backend: {btype} backends have no {label}; pick a backend that supports it",
                    field=f"{section}.backend",
                )
    if data["tts"]["config"].get("openai", {}).get("speed") not in (None, ""):
        speed = data["tts"]["config"]["openai"]["speed"]
        if not isinstance(speed, int | float) or not 0.25 <= float(speed) <= 4.0:
            raise ValidationError(
                "tts.config.openai.speed: must be a number between 0.25 and 4.0",
                field="tts.config.openai.speed",
            )


def _memory_rules(data: dict[str, Any], old: dict[str, Any] | None, all_raw: dict[str, Any]) -> None:
    spec = MEMORY_TYPES.get(data["type"])
    if spec is None:
        raise ValidationError(
            f"type: unknown memory provider type {data['type']!r} (expected one of: {', '.join(MEMORY_TYPES)})",
            field="type",
        )
    if data["category"] not in spec["categories"]:
        raise ValidationError(
            f"category: {data['type']} providers support {', '.join(spec['categories'])}, not {data['category']}",
            field="category",
        )
    old_config = (old or {}).get("config") or {}
    for key in spec["required"]:
        if not data["config"].get(key) and not old_config.get(key):
            raise ValidationError(
                f"config.{key}: is required for {data['type']} providers", field=f"config.{key}"
            )
    backends = all_raw.get("backends", {})
    bid = data["embedding"]["backend"]
    if bid and bid in backends:
        roles = _backend_roles(backends[bid])
        if roles is not None and "embeddings" not in roles:
            raise ValidationError(
                f"embedding.backend: {backends[bid]['type']} backends cannot make embeddings",
                field="embedding.backend",
            )


def _secret_rules(data: dict[str, Any], old: dict[str, Any] | None, all_raw: dict[str, Any]) -> None:
    for sid, other in all_raw.get("secrets", {}).items():
        if other.get("key") == data["key"] and (old is None or old.get("id") != sid):
            raise ValidationError(f"key: a secret with key {data['key']!r} already exists", field="key")
    if old is None and not data.get("value"):
        raise ValidationError("value: is required", field="value")


def _flow_rules(data: dict[str, Any], old: dict[str, Any] | None, all_raw: dict[str, Any]) -> None:
    validate_step(FlowStep.model_validate(data["root"]), "root")


def validate_step(step: FlowStep, path: str) -> None:
    """Structural flow checks: agent ids present, containers non-empty, loops bounded, CEL valid."""
    if step.type == "agent":
        if not step.agent_id:
            raise ValidationError(f"{path}.agentId: is required for agent steps", field=f"{path}.agentId")
        return
    if not step.steps:
        raise ValidationError(
            f"{path}.steps: a {step.type} step needs at least one child step", field=f"{path}.steps"
        )
    if step.type == "loop":
        if step.max_iterations < 1:
            raise ValidationError(
                f"{path}.maxIterations: a loop needs maxIterations >= 1", field=f"{path}.maxIterations"
            )
        if step.exit.mode == "expression":
            from magec.store.cel import check_expression

            check_expression(step.exit.expression, f"{path}.exit.expression")
    for i, child in enumerate(step.steps):
        validate_step(child, f"{path}.steps[{i}]")


_RULES: dict[str, Any] = {
    "backends": _backend_rules,
    "agents": _agent_rules,
    "memoryProviders": _memory_rules,
    "secrets": _secret_rules,
    "flows": _flow_rules,
}
