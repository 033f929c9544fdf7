"""Import subsystems that may be absent (a stripped install, or a part not built yet)."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_optional(name: str) -> ModuleType | None:
    """The module ``name``, or None when it (or a parent package) does not exist.

    Errors *inside* an existing module still raise: a broken subsystem must not be silently skipped.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            return None
        raise
