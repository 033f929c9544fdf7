"""Save-time rules of memory providers, from the one type table (:data:`magec.memory.types.MEMORY_TYPES`).

Registered into the store by the composition root (:data:`RULES`, see :mod:`magec.resources.rules`).
"""

from __future__ import annotations

from magec.errors import ValidationError
from magec.memory.types import MEMORY_TYPES
from magec.resources.rules import RuleTable, Save


def provider_type(save: Save) -> None:
    """Known type, a category the type supports, and the config keys its schema requires (a key
    kept from the stored record counts: sensitive values are write-only and sent empty)."""
    data = save.data
    spec = next((t for t in MEMORY_TYPES if t["type"] == data["type"]), None)
    if spec is None:
        raise ValidationError(
            f"type: unknown memory provider type {data['type']!r} (expected one of: {', '.join(t['type'] for t in MEMORY_TYPES)})",
            field="type",
        )
    if data["category"] not in spec["categories"]:
        raise ValidationError(
            f"category: {data['type']} providers support {', '.join(spec['categories'])}, not {data['category']}",
            field="category",
        )
    old_config = (save.old or {}).get("config") or {}
    for key in spec["configSchema"].get("required", []):
        if not data["config"].get(key) and not old_config.get(key):
            raise ValidationError(f"config.{key}: is required for {data['type']} providers", field=f"config.{key}")


RULES: RuleTable = {"memoryProviders": (provider_type,)}
