"""Context guard: bound a long conversation's model requests, and summarise what is cut.

ADK rebuilds the request from every session event on each turn, so a long session grows cost and
latency without bound. When an agent's ``contextGuard.enabled`` is set, a before-model callback
rewrites ``LlmRequest.contents`` — the session's events are never modified — the way Magec's guard
(adk-utils-go ``plugin/contextguard``) does: older turns are *summarised by the agent's own model*
and replaced by that summary, which the session keeps in its state and folds into the next one
(:mod:`magec.agents.context_summary`). The request is then ``[summary] + the turns after it``.
Magec's agent JSON has no switch for the summary: an enabled guard summarises.

* ``sliding_window``: when more than ``maxTurns`` user turns are not covered by the summary (a
  turn = a user message and everything the model, its tools and other agents did in answer to
  it), all but the last 30 % of ``maxTurns`` (at least one) are summarised. Between two such
  compactions the request is the summary plus up to ``maxTurns`` turns, so a summary is made once
  every ~70 % of ``maxTurns`` turns, not on every turn.
* ``threshold``: when the summary plus the turns after it are estimated (≈ 4 characters per token)
  over ``maxTokens`` — the model's context window, as in Magec — less Magec's buffer (20 % of it;
  20,000 tokens for windows of 200,000 or more), every turn but the latest is summarised; the latest (the user's message
  and the calls made for it so far) is always sent whole.

A blank (absent, null, "" or 0) ``maxTurns`` means 20 and a blank ``maxTokens`` a 128,000-token
window (compacting at 102,400), Magec's defaults: its guard takes 20 when none is set, and without
``maxTokens`` looks the model's window up in its registry — 128,000 for a model it does not know.
magec has no such table, so a blank ``maxTokens`` is 128,000 for every model.

Where magec differs from Magec, and why:

* Magec's ``sliding_window`` counts request *contents* (a tool call and its result are two) and may
  cut between them (it then walks to a pair boundary); magec counts user turns, as it always has,
  so a cut never separates a call from its result. Magec keeps no tail on ``threshold`` and quotes
  the user's message in an extra "[System: The conversation was compacted …]" message; magec sends
  the latest turn itself instead, so no such message is needed.
* A summary that fails (the backend's error, its deadlines, a breaker that is open) falls back to
  dropping, as the guard did before summaries — ``sliding_window`` keeps the last ``maxTurns``
  turns, ``threshold`` drops the oldest while over the limit — behind the previous summary if
  there is one, with a warning in the log; the state is left as it was, so the next turn tries
  again. Magec sends the whole history then (``sliding_window``) or an excerpt summary
  (``threshold``). An *empty* summary is Magec's excerpt summary here too.
* A stateless call (``/v1`` with the history in the request: an in-memory session that ends with
  the request) keeps nothing between requests; summarising there would summarise the same turns on
  every request, so such a call drops instead, as before.
* A failed summary is visible: besides the warning in the log, the session's state says so
  (``__context_guard_summary_failed_<id>``: the error, when, how many turns wait), until a summary
  succeeds.
* A sliding-window agent's turn reads the last ``maxTurns`` stored user turns, and further back to
  the summary's marker (:func:`window`): every turn the summary does not cover yet is read, so the
  turn that compacts summarises them all — also the turns that piled up while summaries were
  failing, or that a long session had before the guard was enabled. Bounded: at most
  :data:`BACKLOG` × ``maxTurns`` turns are read; turns older than that with no summary are left
  out of it (a warning in the log says how it happened).

Cuts happen only at user-turn boundaries, so a tool call is never separated from its result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any

from magec.agents.context_summary import KEY_KEPT_FROM, Memory, Summarizer, save_failure, summary_content
from magec.agents.context_summary import estimate_tokens as _estimate_tokens
from magec.agents.ephemeral_sessions import EphemeralSessionService
from magec.redact import redact
from magec.resources.models import ContextGuard

log = logging.getLogger(__name__)

#: ``maxTurns`` when blank (adk-utils-go contextguard's ``defaultMaxTurns``)
DEFAULT_MAX_TURNS = 20
#: the context window a blank ``maxTokens`` stands for: contextguard's for a model it does not know
DEFAULT_WINDOW = 128_000
#: what ``threshold`` keeps under when ``maxTokens`` is blank: that window less its 20 % buffer
DEFAULT_MAX_TOKENS = 102_400
#: share of ``maxTurns`` a sliding-window compaction keeps whole (contextguard's ``recentKeepRatio``)
KEEP_PERCENT = 30
#: a sliding-window turn reads back to the summary's marker, but at most this many times ``maxTurns``
#: user turns: what a run of failed summaries leaves waiting is summarised by the next one that
#: succeeds, within a bounded read (and a bounded summary request)
BACKLOG = 3
#: how ADK introduces another agent's message, relayed to this one as a ``user`` message: part of
#: the turn it answers, not a turn of its own (only the user starts turns)
_RELAYED = "For context: below is a transcript of what another agent did"


def max_turns(guard: ContextGuard) -> int:
    """The user turns ``sliding_window`` keeps (``maxTurns``, or Magec's default when blank)."""
    return guard.max_turns or DEFAULT_MAX_TURNS


def max_tokens(guard: ContextGuard) -> int:
    """The estimated tokens ``threshold`` keeps under. ``maxTokens`` is the model's context window,
    as Magec's guard reads it (adk-utils-go ``WithMaxTokens``: "a manual context window size
    override"), and the guard compacts at that window less Magec's buffer — 20,000 tokens for a
    window of 200,000 or more, 20 % below that (``computeBuffer``): an agent set to its model's
    window is compacted before the model refuses the request. Blank: 128,000 → 102,400."""
    window = guard.max_tokens or DEFAULT_WINDOW
    return window - (20_000 if window >= 200_000 else window // 5)


def keep_turns(guard: ContextGuard) -> int:
    """The turns a sliding-window compaction keeps whole: 30 % of ``maxTurns``, at least one."""
    return max(1, max_turns(guard) * KEEP_PERCENT // 100)


def _is_user_turn_start(content: Any) -> bool:
    if getattr(content, "role", None) != "user":
        return False
    parts = content.parts or []
    if parts and (parts[0].text or "").startswith(_RELAYED):
        return False
    return any(getattr(p, "text", None) is not None or getattr(p, "inline_data", None) for p in parts)


def _is_turn_event(event: Any) -> bool:
    return event.author == "user" and event.content is not None and _is_user_turn_start(event.content)


def _turns(contents: list[Any]) -> list[list[Any]]:
    turns: list[list[Any]] = []
    for c in contents:
        if not turns or _is_user_turn_start(c):
            turns.append([c])
        else:
            turns[-1].append(c)
    return turns


def _split(contents: list[Any]) -> tuple[list[Any], list[list[Any]]]:
    """The contents before the first user turn (a session that starts with the model), and the turns."""
    turns = _turns(contents)
    if turns and not _is_user_turn_start(turns[0][0]):
        return turns[0], turns[1:]
    return [], turns


def _flat(turns: list[list[Any]]) -> list[Any]:
    return [c for t in turns for c in t]


def _drop(groups: list[list[Any]], guard: ContextGuard, extra: int = 0) -> list[Any]:
    """Plain dropping: the groups (turns) ``guard`` keeps, flattened. ``extra``: tokens sent besides."""
    if guard.strategy == "sliding_window":
        return _flat(groups[-max_turns(guard) :])
    limit = max_tokens(guard)
    sizes = [_estimate_tokens(g) for g in groups]  # once each: the loop below stays linear
    total, start = sum(sizes) + extra, 0
    while len(groups) - start > 1 and total > limit:
        total -= sizes[start]
        start += 1
    return _flat(groups[start:])


def trim(contents: list[Any], guard: ContextGuard) -> list[Any]:
    """The contents to send under ``guard`` when nothing is summarised (a stateless call, an agent
    built without a summarizer): the old turns are dropped. Unchanged when disabled or within limits."""
    if not guard.enabled or not contents:
        return contents
    return _drop(_turns(contents), guard)


def window(guard: ContextGuard, key: str = "") -> Callable[[list[Any], Mapping[str, Any]], int] | None:
    """Where the session events this guard can ever send start, for a windowed session read
    (:func:`magec.memory.event_cache.windowed`): the start of the last ``maxTurns`` user turns
    already stored, or of the first turn the summary does not cover (the marker in the state under
    ``key``, the agent's id) when that is older — at most :data:`BACKLOG` × ``maxTurns`` turns. With
    the new message that is every turn not summarised yet, so the turn that compacts summarises
    them all (see the module docstring). None (the whole session) for ``threshold`` and when off:
    their cut depends on sizes."""
    if not (guard.enabled and guard.strategy == "sliding_window"):
        return None
    keep = max_turns(guard)
    most = keep * BACKLOG

    def start(events: list[Any], state: Mapping[str, Any]) -> int:
        marker = state.get(KEY_KEPT_FROM + key)
        # no marker: nothing was summarised yet, every stored turn is uncovered
        passed = False
        seen = 0
        for i in range(len(events) - 1, -1, -1):
            if _is_turn_event(events[i]):
                seen += 1
                passed = passed or events[i].id == marker
                if seen >= most or (seen >= keep and passed):
                    return i
        return 0

    return start


def _turn_starts(events: list[Any]) -> Iterator[tuple[int, Any]]:
    """(k, event) for the user events starting turns, the last turn first (k = 1)."""
    turn_events = (event for event in reversed(events) if _is_turn_event(event))
    return enumerate(turn_events, start=1)


def _turns_since(events: list[Any], event_id: str) -> int | None:
    """The user turns from the event ``event_id`` on (it included), or None when it is not among
    ``events`` (older than the session's window, or gone)."""
    return next((k for k, event in _turn_starts(events) if event.id == event_id), None)


def _turn_start_id(events: list[Any], k: int) -> str | None:
    """The id of the user event starting the ``k``-th last user turn of ``events``."""
    return next((str(event.id) for i, event in _turn_starts(events) if i == k), None)


def _keeps_state(callback_context: Any) -> bool:
    invocation = getattr(callback_context, "_invocation_context", None)
    service = getattr(invocation, "session_service", None)
    return service is not None and not isinstance(service, EphemeralSessionService)


def callback(guard: ContextGuard, summarizer: Summarizer | None = None, key: str = "") -> Any:
    """An ADK ``before_model_callback`` applying ``guard`` (see the module docstring).

    ``summarizer`` makes the summaries (None: the guard only drops); ``key`` names the agent in the
    session state's keys (its id; a flow step's own name). The callback is synchronous and returns
    None unless a summary has to be made: then it returns the coroutine that makes it, which ADK
    awaits (and :func:`magec.agents.callbacks.before_model` passes through)."""
    sliding = guard.strategy == "sliding_window"
    limit = max_tokens(guard) if not sliding else DEFAULT_MAX_TOKENS

    def before_model(callback_context: Any, llm_request: Any) -> Coroutine[Any, Any, None] | None:
        contents = list(llm_request.contents or [])
        if not contents:
            return None
        if summarizer is None or not _keeps_state(callback_context):
            llm_request.contents = trim(contents, guard)
            return None
        events = callback_context.session.events
        memory = Memory.load(callback_context.state, key)
        lead, turns = _split(contents)
        since = _turns_since(events, memory.kept_from) if memory.kept_from else None
        if memory.kept_from and since is None and sliding and len(turns) > max_turns(guard):
            log.warning("context guard %s: the turns not summarised yet reach past the %d read (%d × maxTurns): "
                        "the older ones are left out of the summary", key, max_turns(guard) * BACKLOG, BACKLOG)
        if since is not None:  # everything before the marker is in the summary
            lead, turns = [], turns[-since:]
        head = [summary_content(memory.summary)] if memory.summary else []
        extra = _estimate_tokens(head) if head else 0
        if sliding:
            cut = len(turns) - keep_turns(guard) if len(turns) > max_turns(guard) else 0
        else:
            over = len(turns) > 1 and _estimate_tokens(lead + _flat(turns)) + extra > limit
            cut = len(turns) - 1 if over else 0
        kept_from = _turn_start_id(events, len(turns) - cut) if cut else None
        if kept_from is None:
            if cut:  # the contents' turns do not line up with the session's: drop, as without summaries
                log.warning("context guard %s: the request's turns are not the session's; dropping", key)
                llm_request.contents = head + _drop(([lead] if lead else []) + turns, guard, extra)
            elif head or since is not None:
                llm_request.contents = head + lead + _flat(turns)
            return None
        fallback = head + _drop(([lead] if lead else []) + turns, guard, extra)
        return _compact(callback_context, llm_request, memory, lead + _flat(turns[:cut]), turns[cut:],
                        kept_from, fallback)

    async def _compact(callback_context: Any, llm_request: Any, memory: Memory, dropped: list[Any],
                       kept: list[list[Any]], kept_from: str, fallback: list[Any]) -> None:
        assert summarizer is not None
        try:
            summary = await summarizer(dropped, memory.summary, limit, llm_request.model or "")
        except Exception as e:  # noqa: BLE001 - a failed summary never fails the user's turn
            error = redact(str(e) or type(e).__name__)
            log.warning("context guard %s: summarising %d messages failed, leaving them out of this request "
                        "(kept for the next summary): %s", key, len(dropped), error)
            # the marker stays where it was: the next turn reads these turns again and retries
            save_failure(callback_context.state, key, error, len(_turns(dropped)))
            llm_request.contents = fallback
            return None
        Memory(summary, kept_from).save(callback_context.state, key, _estimate_tokens(dropped))
        log.info("context guard %s: %d messages summarised, %d turns kept", key, len(dropped), len(kept))
        llm_request.contents = [summary_content(summary), *_flat(kept)]
        return None

    return before_model
