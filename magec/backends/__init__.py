"""AI provider backends. Outside this package, only these names (and :mod:`.base`, :mod:`.registry`,
:mod:`.fallback`, :mod:`.breaker`) are used: the deadline/retry policy is shared with voice and memory."""

from magec.backends._resilience import Policy, resilient_call

__all__ = ["Policy", "resilient_call"]
