"""Save-time rules that need backend knowledge: known types, role support, TTS options.

Registered into the store by the composition root (:data:`RULES`, see :mod:`magec.resources.rules`).
A type's vendor SDK is imported only when a rule needs that type (the registry is lazy).
"""

from __future__ import annotations

from typing import Any

from magec.backends import registry
from magec.errors import ValidationError
from magec.resources.rules import RuleTable, Save


def backend_type(save: Save) -> None:
    """A backend's ``type`` is a registered backend type."""
    if save.data["type"] not in registry.type_names():
        raise ValidationError(
            f"type: unknown backend type {save.data['type']!r} (expected one of: {', '.join(registry.type_names())})",
            field="type",
        )


def _roles(backend: dict[str, Any]) -> list[str] | None:
    """The declared roles of a stored backend's type; None when unknown (the type is unavailable:
    nothing to check against, the runtime reports it)."""
    try:
        return list(registry.get(backend["type"]).declared.roles)
    except (ImportError, AttributeError, ValidationError):
        return None


def agent_roles(save: Save) -> None:
    """Each backend an agent uses supports the role it is used for."""
    backends = save.all_raw.get("backends", {})
    for section, role, label in (
        ("transcription", "stt", "speech-to-text"),
        ("tts", "tts", "text-to-speech"),
        ("llm", "llm", "chat"),
    ):
        slots = [(f"{section}.backend", save.data[section]["backend"])] + [
            (f"{section}.fallbacks[{i}].backend", fb.get("backend"))
            for i, fb in enumerate(save.data[section].get("fallbacks") or [])
        ]
        for field, bid in slots:
            if bid and bid in backends:
                roles = _roles(backends[bid])
                if roles is not None and role not in roles:
                    btype = backends[bid]["type"]
                    raise ValidationError(
                        f"{field}: {btype} backends have no {label}; pick a backend that supports it",
                        field=field,
                    )


def openai_tts_speed(save: Save) -> None:
    """``tts.config.openai.speed`` is within the OpenAI speech API's range (checked at save time,
    so a bad value is not discovered on the first spoken answer)."""
    speed = save.data["tts"]["config"].get("openai", {}).get("speed")
    if speed in (None, ""):
        return
    from magec.backends.openai.audio import SPEED_RANGE  # imports the SDK: only when a speed is set

    low, high = SPEED_RANGE
    if not isinstance(speed, int | float) or not low <= float(speed) <= high:
        raise ValidationError(
            f"tts.config.openai.speed: must be a number between {low} and {high}",
            field="tts.config.openai.speed",
        )


def embedding_role(save: Save) -> None:
    """A memory provider's embedding backend can make embeddings."""
    backends = save.all_raw.get("backends", {})
    slots = [("embedding.backend", save.data["embedding"]["backend"])] + [
        (f"embedding.fallbacks[{i}].backend", fb.get("backend"))
        for i, fb in enumerate(save.data["embedding"].get("fallbacks") or [])
    ]
    for field, bid in slots:
        if bid and bid in backends:
            roles = _roles(backends[bid])
            if roles is not None and "embeddings" not in roles:
                raise ValidationError(
                    f"{field}: {backends[bid]['type']} backends cannot make embeddings", field=field
                )


RULES: RuleTable = {
    "backends": (backend_type,),
    "agents": (agent_roles, openai_tts_speed),
    "memoryProviders": (embedding_role,),
}
