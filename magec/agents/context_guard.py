"""Context guard: cap the history sent to the model for long conversations.

ADK rebuilds the request from every session event on each turn, so a long session grows cost and
latency without bound. When an agent's ``contextGuard.enabled`` is set, a before-model callback trims
``LlmRequest.contents`` — the session itself is never modified:

* ``sliding_window``: keep the last ``maxTurns`` user turns (a turn = a user message and everything
  the model and tools did in answer to it);
* ``threshold``: drop the oldest turns while the estimated size exceeds ``maxTokens`` (≈ 4 characters
  per token), always keeping the latest turn.

A blank (absent, null, "" or 0) ``maxTurns`` means 20 and a blank ``maxTokens`` 102,400, Magec's defaults: its
guard (adk-utils-go ``contextguard``) takes 20 turns when none is set, and for ``threshold`` compacts
at the model's context window less a 20 % buffer — 102,400 for a model its registry does not know
(128,000 tokens). Magec looks known models' windows up; magec has no such table, so it is 102,400
for every model.

Cuts happen only at user-turn boundaries, so a tool call is never separated from its result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magec.resources.models import ContextGuard

#: ``maxTurns`` when blank (adk-utils-go contextguard's ``defaultMaxTurns``)
DEFAULT_MAX_TURNS = 20
#: ``maxTokens`` when blank: contextguard's unknown-model window (128,000) less its 20 % buffer
DEFAULT_MAX_TOKENS = 102_400


def max_turns(guard: ContextGuard) -> int:
    """The user turns ``sliding_window`` keeps (``maxTurns``, or Magec's default when blank)."""
    return guard.max_turns or DEFAULT_MAX_TURNS


def max_tokens(guard: ContextGuard) -> int:
    """The estimated tokens ``threshold`` keeps under (``maxTokens``, or Magec's default when blank)."""
    return guard.max_tokens or DEFAULT_MAX_TOKENS


def _is_user_turn_start(content: Any) -> bool:
    if getattr(content, "role", None) != "user":
        return False
    return any(getattr(p, "text", None) is not None or getattr(p, "inline_data", None) for p in content.parts or [])


def _turns(contents: list[Any]) -> list[list[Any]]:
    turns: list[list[Any]] = []
    for c in contents:
        if not turns or _is_user_turn_start(c):
            turns.append([c])
        else:
            turns[-1].append(c)
    return turns


def _estimate_tokens(contents: list[Any]) -> int:
    chars = 0
    for c in contents:
        for p in c.parts or []:
            if p.text:
                chars += len(p.text)
            elif p.function_call is not None:
                chars += len(str(p.function_call.args or "")) + 20
            elif p.function_response is not None:
                chars += len(str(p.function_response.response or "")) + 20
            else:
                chars += 256
    return chars // 4 + 1


def trim(contents: list[Any], guard: ContextGuard) -> list[Any]:
    """The contents to send under ``guard`` (unchanged when disabled or already within limits)."""
    if not guard.enabled or not contents:
        return contents
    turns = _turns(contents)
    if guard.strategy == "sliding_window":
        turns = turns[-max_turns(guard) :]
    elif guard.strategy == "threshold":
        limit = max_tokens(guard)
        while len(turns) > 1 and _estimate_tokens([c for t in turns for c in t]) > limit:
            turns.pop(0)
    return [c for t in turns for c in t]


def window(guard: ContextGuard) -> Callable[[list[Any]], int] | None:
    """Where the session events this guard can ever send start, for a windowed session read
    (:func:`magec.memory.event_cache.windowed`): the start of the last ``maxTurns`` user turns
    already stored — a superset of what :func:`trim` keeps once the new message adds a turn.
    None (the whole session) for ``threshold`` and when off: their cut depends on sizes."""
    if not (guard.enabled and guard.strategy == "sliding_window"):
        return None
    keep = max_turns(guard)

    def start(events: list[Any]) -> int:
        seen = 0
        for i in range(len(events) - 1, -1, -1):
            content = events[i].content
            if events[i].author == "user" and content is not None and _is_user_turn_start(content):
                seen += 1
                if seen >= keep:
                    return i
        return 0

    return start


def callback(guard: ContextGuard) -> Any:
    """An ADK ``before_model_callback`` applying ``guard``."""

    def before_model(callback_context: Any, llm_request: Any) -> None:
        llm_request.contents = trim(list(llm_request.contents or []), guard)
        return None

    return before_model
