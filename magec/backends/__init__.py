"""AI provider backends. Outside this package, only these names (and :mod:`.base`, :mod:`.registry`,
:mod:`.fallback`, :mod:`.breaker`) are used: the deadline/retry policy is shared with voice and memory;
``clients_held`` keeps the SDK clients of the composition root's loop open while it serves."""

from magec.backends._resilience import Policy, resilient_call
from magec.backends._shared import held as clients_held

__all__ = ["Policy", "clients_held", "resilient_call"]
