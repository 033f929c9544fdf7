"""Write-only, encrypted-at-rest fields (API keys, secret values, connection strings, MCP headers).

A sensitive field is stored encrypted (``enc:v1:``) unless it is a pure ``${KEY}`` reference, which
is kept as typed. In API output an encrypted value is blanked and ``<field>Set: true`` is added; on
update an empty value keeps the stored one.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

from magec.store.crypto import Cipher, is_encrypted

_PURE_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$")


def is_reference(value: object) -> bool:
    return isinstance(value, str) and bool(_PURE_REF.match(value.strip()))


def _slots(data: dict[str, Any], path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """(container, key) pairs addressed by ``path`` (``a.b`` or ``a.*``)."""
    *parents, last = path.split(".")
    node: Any = data
    for p in parents:
        node = node.get(p) if isinstance(node, dict) else None
        if node is None:
            return
    if not isinstance(node, dict):
        return
    if last == "*":
        for key in list(node):
            yield node, key
    elif last in node:
        yield node, last


def protect(
    paths: tuple[str, ...], new: dict[str, Any], old: dict[str, Any] | None, cipher: Cipher
) -> dict[str, Any]:
    """Prepare ``new`` for storage: an empty value keeps the stored one; literal values are encrypted."""
    out = copy.deepcopy(new)
    for path in paths:
        for container, key in list(_slots(out, path)):
            value = container[key]
            if value in ("", None):
                previous = _lookup(old, path, key)
                container[key] = previous if previous not in (None,) else ""
            elif isinstance(value, str) and not is_reference(value) and not is_encrypted(value):
                container[key] = cipher.encrypt(value)
    return out


def _parent(data: dict[str, Any], path: str) -> dict[str, Any] | None:
    node: Any = data
    for p in path.split(".")[:-1]:
        node = node.get(p) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _lookup(old: dict[str, Any] | None, path: str, key: str) -> Any:
    if old is None:
        return None
    parent = _parent(old, path)
    return parent.get(key) if parent else None


def redact_for_api(paths: tuple[str, ...], raw: dict[str, Any]) -> dict[str, Any]:
    """The API view: encrypted values blanked with a ``<key>Set`` flag; ``${REF}`` values kept."""
    out = copy.deepcopy(raw)
    for path in paths:
        for container, key in list(_slots(out, path)):
            value = container[key]
            if is_encrypted(value):
                container[key] = ""
                if not path.endswith(".*"):
                    container[f"{key}Set"] = True
            elif not path.endswith(".*") and key != "value":
                container[f"{key}Set"] = bool(value)
    return out


def decrypt_all(paths: tuple[str, ...], raw: dict[str, Any], cipher: Cipher) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    for path in paths:
        for container, key in list(_slots(out, path)):
            if is_encrypted(container[key]):
                container[key] = cipher.decrypt(container[key])
    return out


def map_strings(data: Any, fn: Callable[[str], str]) -> Any:
    """Apply ``fn`` to every string value in a JSON structure (keys untouched)."""
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, dict):
        return {k: map_strings(v, fn) for k, v in data.items()}
    if isinstance(data, list):
        return [map_strings(v, fn) for v in data]
    return data
