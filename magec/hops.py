"""Loop guard: every outgoing provider call says which magec instances the request went through.

An agent whose backend URL is magec's own ``/v1`` would otherwise call itself without end (each
nested call starts another turn that calls again). Every SDK client carries the header
``X-Magec-Hop: <instance ids>``; the user app refuses a request whose chain already holds this
instance's id, or more than :data:`MAX_HOPS` ids (a loop through several magec instances), with
508 Loop Detected. The inbound chain is kept in a context variable for the duration of a request,
so a legitimate A → B call carries ``A`` and B's own calls carry ``A,B``.
"""

from __future__ import annotations

import contextvars
import re
import uuid

from magec.errors import LoopDetectedError

HEADER = "X-Magec-Hop"
#: random per process: two magec processes (even on one database) are two instances
INSTANCE_ID = uuid.uuid4().hex[:16]
#: a longer chain of magec instances is treated as a loop even without our own id in it
MAX_HOPS = 4

_ID = re.compile(r"^[0-9a-f]{1,32}$")
_inbound: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("magec_hops", default=())


def parse(value: str | None) -> tuple[str, ...]:
    """The instance ids in an inbound header value (junk entries are ignored, never trusted)."""
    if not value:
        return ()
    return tuple(p for p in (s.strip().lower() for s in value.split(",")) if _ID.match(p))


def check(value: str | None) -> tuple[str, ...]:
    """The inbound chain, or :class:`LoopDetectedError` when the request came back to us."""
    chain = parse(value)
    if INSTANCE_ID in chain:
        raise LoopDetectedError(
            "loop detected: this request came back to the magec instance that sent it "
            "(a backend URL points at magec's own API)"
        )
    if len(chain) >= MAX_HOPS:
        raise LoopDetectedError(
            f"loop detected: the request already passed through {len(chain)} magec instances"
        )
    return chain


def enter(chain: tuple[str, ...]) -> contextvars.Token[tuple[str, ...]]:
    return _inbound.set(chain)


def leave(token: contextvars.Token[tuple[str, ...]]) -> None:
    _inbound.reset(token)


def outgoing() -> str:
    """The header value for a provider call made now: the inbound chain plus this instance."""
    return ",".join((*_inbound.get(), INSTANCE_ID))
