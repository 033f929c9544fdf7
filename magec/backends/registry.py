"""Type name → :class:`~magec.backends.base.BackendType`. The only place backend types are looked up.

Built-in types register lazily (their vendor SDK is imported on first use), so a missing optional
extra (``magec[local]``) only fails when that type is asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from magec.backends.base import BackendType, Defaults
from magec.errors import ValidationError


# Built-in types are imported on first use (each imports its vendor SDK), through plain imports in
# small functions rather than module names in strings, so mypy and grep see them.
def _openai() -> BackendType:
    from magec.backends.openai import TYPE

    return TYPE


def _anthropic() -> BackendType:
    from magec.backends.anthropic import TYPE

    return TYPE


def _gemini() -> BackendType:
    from magec.backends.gemini import TYPE

    return TYPE


def _local() -> BackendType:
    from magec.backends.local import TYPE  # raises ImportError while the ``local`` extra is missing

    return TYPE


_BUILTIN: dict[str, Callable[[], BackendType]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "local": _local,
}
_loaded: dict[str, BackendType] = {}
_lock = threading.Lock()


def register(backend_type: BackendType) -> None:
    """Register (or replace) a backend type under ``backend_type.name``."""
    with _lock:
        _loaded[backend_type.name] = backend_type


def type_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_loaded))


def get(name: str) -> BackendType:
    """Return the backend type called ``name``; ValidationError(field="type") if unknown."""
    with _lock:
        if name in _loaded:
            return _loaded[name]
    load = _BUILTIN.get(name)
    if load is None:
        raise ValidationError(
            f"unknown backend type {name!r} (expected one of: {', '.join(type_names())})", field="type"
        )
    bt = load()
    register(bt)
    return bt


def defaults(name: str) -> Defaults:
    """The :class:`Defaults` of type ``name``; an unknown or uninstalled type gets the strictest ones
    (a model required), so callers can check a record before the lookup error is reported."""
    try:
        return get(name).defaults
    except (ValidationError, ImportError):
        return Defaults()


def available() -> list[BackendType]:
    """Every type that imports on this install (a type whose extra is missing is skipped)."""
    out = []
    for name in type_names():
        try:
            out.append(get(name))
        except ImportError:
            continue
    return out
