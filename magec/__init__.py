"""magec: a self-hosted multi-agent AI platform (a Python re-implementation of Magec)."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed

try:
    #: the installed distribution's version (``magec --version``, the start-up log line)
    __version__ = _installed("magec")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "unknown"
