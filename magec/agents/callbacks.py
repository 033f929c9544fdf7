"""One ADK model callback made of several.

Contract: :func:`before_model` returns a single ``before_model_callback`` that runs ``callbacks``
in order, each with ``(callback_context, llm_request)``, and stops at the first that returns a
truthy response — ADK's own semantics for a list of callbacks (``_stop_on_truthy``). The
callbacks must be synchronous functions, but one may return an awaitable when it has to wait (the
context guard asking the model for a summary): the chain then returns an awaitable that awaits it
and runs the rest, which ADK awaits in turn — so a model call waits only when some callback has to.
:func:`cheap` gives a callback a precomputed ``__signature__``.

Why: ADK calls every callback through ``_invoke_callback``, which runs ``inspect.signature`` and
``Signature.bind`` on it per call: 8–12 µs a callback, so magec's four before-model callbacks and
its usage callback cost ~45 µs of every model call (measured on the bench machine). One callback
whose signature is already computed costs ~3 µs.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def cheap(callback: F) -> F:
    """``callback`` with its signature computed once (``inspect.signature`` returns it as is)."""
    callback.__signature__ = inspect.signature(callback)  # type: ignore[attr-defined]
    return callback


def before_model(callbacks: list[Callable[[Any, Any], Any]]) -> Callable[[Any, Any], Any]:
    chain = tuple(callbacks)
    for cb in chain:
        if inspect.iscoroutinefunction(cb):
            raise TypeError(f"{cb!r}: before-model callbacks combined here must be synchronous")

    async def finish(pending: Awaitable[Any], rest: tuple[Callable[[Any, Any], Any], ...],
                     callback_context: Any, llm_request: Any) -> Any:
        response = await pending
        for cb in rest:
            if response:
                return response
            response = cb(callback_context, llm_request)
            if inspect.isawaitable(response):
                response = await response
        return response or None

    def before_model(callback_context: Any, llm_request: Any) -> Any:
        for i, cb in enumerate(chain):
            response = cb(callback_context, llm_request)
            if inspect.isawaitable(response):
                return finish(response, chain[i + 1 :], callback_context, llm_request)
            if response:
                return response
        return None

    return cheap(before_model)
