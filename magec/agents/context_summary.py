"""The context guard's summaries: the turns it drops, told back by the agent's own model.

Magec's guard (adk-utils-go ``plugin/contextguard``) does not just drop old turns: it asks the
agent's own LLM to summarise them, folds the previous summary into the new one, keeps the result in
session state and sends ``[summary] + recent turns``. This module is that summary's half: the
prompt (Magec's, verbatim), the model call, the state it lives in and the message it travels as.
:mod:`magec.agents.context_guard` decides *when* and *what*.

Contract:

* :class:`Summarizer` asks the agent's chat model (the very object the agent calls: its backend,
  breaker and fallbacks) for one summary of ``contents`` plus the previous summary: Magec's system
  prompt with a word limit, one user message holding a transcript (``role: text``; a tool call or
  result is a one-line note, its data is not included, as in Magec), ``max_output_tokens`` from the
  guard's budget. Not streamed, so nothing of it is relayed to the client. Its token usage is
  reported like any model response of the agent (``report``: costs, budgets, metrics). The
  request passes ``scrub`` first (the agent's secrets guard), as every request of the agent does.
  An empty answer gives Magec's mechanical fallback (the first 200 characters of each message);
  a failed call raises — the caller falls back to dropping.
* :class:`Memory` is what a session keeps between turns, in its state, under Magec's keys suffixed
  with the agent's id (``__context_guard_summary_<id>``, ``__context_guard_summarized_at_<id>``:
  the estimated tokens summarised) plus magec's marker ``__context_guard_kept_from_<id>``: the id
  of the user event that starts the first turn *not* covered by the summary. Magec marks that
  place with a count of request contents instead; magec reads a sliding-window agent's session as
  a window (:func:`magec.memory.event_cache.windowed`), where such a count has no fixed origin,
  and an event id does.
* :func:`save_failure` records a failed summary in the state (``__context_guard_summary_failed_<id>``:
  the redacted error, when, and how many turns wait for a summary); the next summary that succeeds
  clears it.
* :func:`summary_content` is the message the summary travels as: a ``user`` message opening the
  request, worded as Magec's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from google.adk.models import LlmRequest
from google.genai import types

log = logging.getLogger(__name__)

# adk-utils-go contextguard's summarizeSystemPrompt (Apache-2.0, © achetronic), unchanged: the
# summary has to serve as the only memory of the dropped turns, and Magec's wording is what its
# users' agents are tuned to.
SYSTEM_PROMPT = """You are summarizing a conversation to preserve context for continuing later.

Critical: This summary will be the ONLY context available when the conversation resumes. Assume all previous messages will be lost. Be thorough.

Required sections:

## Current State

- What was being discussed or worked on (exact user request if applicable)
- Current progress and what has been completed
- What was being addressed right now (incomplete work or open thread)
- What remains to be done or answered (specific, not vague)

## Key Information

- Facts, data, and specific details mentioned (names, dates, numbers, URLs, identifiers)
- User preferences, instructions, and constraints stated during the conversation
- Definitions, terminology, or domain knowledge established
- Any external resources, references, or sources mentioned

## Context & Decisions

- Decisions made during the conversation and why
- Alternatives that were considered and discarded (and why)
- Assumptions made
- Important clarifications or corrections that occurred
- Any blockers, risks, or open questions identified

## Exact Next Steps

Be specific. Don't write "continue with the task" — write exactly what should happen next, with enough detail that someone reading only this summary can pick up without asking questions.

Tone: Write as if briefing a colleague taking over mid-conversation. Include everything they would need to continue without asking questions. Write in the same language as the conversation.

Length: A dynamic word limit will be appended to this prompt at runtime based on the model's buffer size. Within that limit, err on the side of too much detail rather than too little. Critical context is worth the tokens."""

SUMMARY_OPEN = "[Previous conversation summary]"
SUMMARY_CLOSE = "[End of summary - conversation continues below]"

KEY_SUMMARY = "__context_guard_summary_"
KEY_SUMMARIZED_AT = "__context_guard_summarized_at_"
KEY_KEPT_FROM = "__context_guard_kept_from_"
#: magec's: why the last summary failed, while the turns it should have covered wait for the next
KEY_FAILED = "__context_guard_summary_failed_"

#: a summary may not be capped below this many tokens: Magec's cap (an eighth of a small
#: ``maxTokens``) would leave no room for a sentence
MIN_OUTPUT_TOKENS = 256
#: Magec's fallback summary keeps this many characters of each message
_EXCERPT = 200


def _buffer(limit: int) -> int:
    """Magec's buffer for a guard that keeps requests under ``limit`` tokens: 20,000 tokens for a
    context window of 200,000 or more, 20 % of the window below that — ``limit`` being the window
    less the buffer (:func:`magec.agents.context_guard.max_tokens`: ``maxTokens`` is the window)."""
    return 20_000 if limit + 20_000 >= 200_000 else limit // 4


def output_tokens(limit: int) -> int:
    """The summary's ``max_output_tokens`` for a guard that keeps requests under ``limit`` tokens:
    half the buffer (Magec's)."""
    return max(MIN_OUTPUT_TOKENS, _buffer(limit) // 2)


def estimate_tokens(contents: list[Any]) -> int:
    """The guard's size estimate of ``contents``: ≈ 4 characters a token (Magec's heuristic); a
    tool call or result counts its arguments, anything else (an image, audio) 64 tokens."""
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


def fit(contents: list[Any], limit: int) -> list[Any]:
    """Like adk-utils-go's ``truncateForSummarizer``: the latest of ``contents`` (at least two) that
    a summary request can carry within the model's window (``limit`` plus the buffer) with room
    left for the summary (half the buffer). Magec's budget is 80 % of the window."""
    budget = max(limit, limit + _buffer(limit) - output_tokens(limit))
    sizes = [estimate_tokens([c]) for c in contents]
    total, start = sum(sizes), 0
    while len(contents) - start > 2 and total > budget:
        total -= sizes[start]
        start += 1
    return contents[start:] if start else contents


def summary_content(summary: str) -> types.Content:
    """The message opening a request whose older turns the summary stands for."""
    return types.Content(role="user", parts=[types.Part(text=f"{SUMMARY_OPEN}\n{summary}\n{SUMMARY_CLOSE}")])


def transcript(contents: list[Any], previous: str) -> str:
    """adk-utils-go's ``buildSummarizePrompt``: the request to summarise, the previous summary to
    fold in, and the conversation as ``role: text`` lines."""
    out = ["Provide a detailed summary of the following conversation.\n\n"]
    if previous:
        out.append(f"[Previous summary for context]\n{previous}\n[End previous summary]\n\n")
        out.append("Incorporate the previous summary into your new summary, updating any information that has changed.\n\n")
    out.append("[Conversation to summarize]\n")
    for content in contents:
        role = getattr(content, "role", None) or "unknown"
        for part in content.parts or []:
            if part.text:
                out.append(f"{role}: {part.text}\n")
            if part.function_call is not None:
                out.append(f"{role}: [called tool: {part.function_call.name}]\n")
            if part.function_response is not None:
                out.append(f"{role}: [tool {part.function_response.name} returned a result]\n")
    out.append("[End of conversation]\n")
    return "".join(out)


def fallback_summary(contents: list[Any], previous: str) -> str:
    """adk-utils-go's ``buildFallbackSummary``, for a model that answered nothing: the previous
    summary, then the first 200 characters of every message."""
    out = [f"{previous}\n\n---\n\n"] if previous else []
    for content in contents:
        role = getattr(content, "role", None) or "unknown"
        for part in content.parts or []:
            if part.text:
                text = part.text if len(part.text) <= _EXCERPT else part.text[:_EXCERPT] + "..."
                out.append(f"{role}: {text}\n")
    return "".join(out)


@dataclass(frozen=True)
class Memory:
    """A session's summary for one agent: the text and the user event its kept turns start at."""

    summary: str = ""
    kept_from: str | None = None

    @classmethod
    def load(cls, state: Any, key: str) -> Memory:
        summary = state.get(KEY_SUMMARY + key)
        kept_from = state.get(KEY_KEPT_FROM + key)
        return cls(summary if isinstance(summary, str) else "", kept_from if isinstance(kept_from, str) else None)

    def save(self, state: Any, key: str, tokens: int) -> None:
        """Into the callback context's state: ADK writes it with the model call's event, so the
        session keeps it (and only its state changes)."""
        state[KEY_SUMMARY + key] = self.summary
        state[KEY_SUMMARIZED_AT + key] = tokens
        state[KEY_KEPT_FROM + key] = self.kept_from
        if state.get(KEY_FAILED + key):
            state[KEY_FAILED + key] = None  # caught up: the failure is over


def save_failure(state: Any, key: str, error: str, waiting: int) -> None:
    """Say in the session's state that a summary failed (``{"error", "at", "waitingTurns"}``): the
    turns it should have covered are not sent meanwhile, and a reader of the session (the admin, a
    client) sees why, until a later summary covers them. The summary's own state is untouched."""
    state[KEY_FAILED + key] = {"error": error, "at": time.time(), "waitingTurns": waiting}


class Summarizer:
    """One agent's summaries, made by its own chat model (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        *,
        report: Callable[[Any], None] | None = None,
        scrub: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self.model = model
        self.report = report
        self.scrub = scrub

    def request(self, contents: list[Any], previous: str, limit: int, model_name: str) -> LlmRequest:
        """The summarisation request (``limit``: the guard's token limit, for the output cap)."""
        cap = output_tokens(limit)
        system = f"{SYSTEM_PROMPT}\n\nKeep the summary under {cap * 3 // 4} words."
        return LlmRequest(
            model=model_name or getattr(self.model, "model", None),
            contents=[types.Content(role="user", parts=[types.Part(text=transcript(contents, previous))])],
            config=types.GenerateContentConfig(system_instruction=system, max_output_tokens=cap),
        )

    async def __call__(self, contents: list[Any], previous: str, limit: int, model_name: str = "") -> str:
        """The new summary of ``contents`` with ``previous`` folded in; raises when the model fails."""
        contents = fit(contents, limit)
        request = self.request(contents, previous, limit, model_name)
        if self.scrub is not None:
            self.scrub(None, request)
        texts: list[str] = []
        refused = ""
        async with aclosing(self.model.generate_content_async(request, stream=False)) as responses:
            async for response in responses:
                if response.partial:
                    continue
                if response.usage_metadata is not None and self.report is not None:
                    self.report(response)
                if response.content is not None:
                    texts.extend(p.text for p in response.content.parts or [] if p.text and not p.thought)
                if response.error_code:  # a cut summary (MAX_TOKENS) still has its text
                    refused = f"{response.error_code} {response.error_message or ''}".strip()
        summary = "".join(texts).strip()
        if not summary and refused:
            raise RuntimeError(f"the model refused the summary: {refused}")
        if not summary:
            log.warning("context guard: the model answered an empty summary; keeping excerpts instead")
            return fallback_summary(contents, previous)
        return summary
