"""Long model requests travel past ADK's per-call telemetry with their leading contents parked.

Why: before every model call ADK's GenAI telemetry turns the whole request into OpenTelemetry
values, synchronously on the event loop, whether a tracer records or not
(``_experimental_semconv._build_request_operation_details``; not switchable per request): 0.2–1 s
for a 16k-message history, during which the process answers nobody (issue "Scale", goal 2). It
does so only where ADK's own model call runs: while no OpenTelemetry provider is installed, magec's
agents skip that telemetry altogether (:mod:`magec.agents.lean`), and parking is then a cheap
no-op in effect.

Contract:

* :func:`park` is an ADK ``before_model_callback`` installed *last* (after the context guard and
  the secrets guard, so what is parked is the final request). A request of more than
  :data:`PARK_ABOVE` contents keeps its last :data:`KEEP` on ``contents``; the leading ones ride in
  the request object's ``__dict__`` (which ``model_copy`` carries to a fallback's copy).
* :func:`unpark` runs in the model wrapper every agent's chat model goes through
  (:class:`magec.backends.breaker.GuardedLlm`) before any vendor sees the request: the contents are
  whole again, in order. Idempotent; a request never parked is untouched.
* What the telemetry of such a call shows (span attributes, log records) is its last
  :data:`KEEP` contents. The provider always receives the whole request.
"""

from __future__ import annotations

from typing import Any

#: requests with more contents than this are parked
PARK_ABOVE = 64
#: contents left visible to ADK's telemetry
KEEP = 16
_KEY = "_magec_parked_contents"


def park(callback_context: Any, llm_request: Any) -> None:
    """ADK ``before_model_callback`` (the last one): park the leading contents of a long request."""
    contents = llm_request.contents
    if len(contents) > PARK_ABOVE and _KEY not in llm_request.__dict__:
        llm_request.__dict__[_KEY] = contents[:-KEEP]
        llm_request.contents = contents[-KEEP:]
    return None


def unpark(llm_request: Any) -> None:
    """Put parked contents back in front of the request's own (no-op when none are parked)."""
    parked = llm_request.__dict__.pop(_KEY, None)
    if parked:
        llm_request.contents = [*parked, *llm_request.contents]
