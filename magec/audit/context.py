"""Which surface a turn came from: a context variable set at each surface's edge.

:func:`magec.runtime.run.run_turn` sees every turn but not which route or bot started it; the
edge that does (the run API, ``/v1``, the conversation gateway of bots/webhooks/cron) wraps its
call in :func:`attributed`, and the audit reads :func:`current` when the turn begins. A turn with
no attribution is recorded with surface ``"api"``. The client and user are not carried here: they
are in the session owner ``<clientId>:<userId>`` that every surface already passes to ``run_turn``;
only the user's display name, which a bot's platform gives and the owner does not hold, is.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Attribution:
    #: the route or worker: ``run``, ``run_sse``, ``playground``, ``chat.completions``, ``responses``,
    #: ``telegram``, ``slack``, ``discord``, ``webhook``, ``cron``
    surface: str
    #: Magec's ``source`` when the edge knows better than the client type (``voice-ui``); "" = derive
    source: str = ""
    #: the user's message came in as audio (a voice note, the Voice UI)
    voice: bool = False
    #: how the platform names the user (a bot's ``@alice``), "" when it does not say
    user_name: str = ""


_current: contextvars.ContextVar[Attribution | None] = contextvars.ContextVar("magec_audit_surface", default=None)


def current() -> Attribution | None:
    return _current.get()


@contextlib.contextmanager
def attributed(surface: str, source: str = "", voice: bool = False, user_name: str = "") -> Iterator[Attribution]:
    """Attribute the turns started inside the block (in this task) to ``surface``."""
    value = Attribution(surface, source, voice, user_name)
    token = _current.set(value)
    try:
        yield value
    finally:
        try:
            _current.reset(token)
        except ValueError:  # reset from another context (a generator closed elsewhere): harmless
            pass


def set_surface(surface: str, source: str = "", voice: bool = False) -> None:
    """Attribute the rest of the current context (for generator bodies where a ``with`` block
    would outlive the yield); the context ends with the request's task."""
    _current.set(Attribution(surface, source, voice))
