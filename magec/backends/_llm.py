"""Vendor-neutral pieces of the chat adapters: reading an ADK ``LlmRequest`` and assembling a turn.

:class:`TurnAccumulator` is the one result path of the OpenAI and Anthropic adapters: streamed
deltas and non-streamed responses are both fed into it, so the final ``LlmResponse`` of a streamed
call is, by construction, identical to the non-streamed one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from google.adk.models import LlmRequest, LlmResponse
from google.genai import types

from magec import jsontext
from magec.backends import prebuilt
from magec.backends.relay import Relay
from magec.backends.relay import current as current_relay
from magec.errors import MalformedResponseError, ValidationError
from magec.redact import no_surrogates, no_surrogates_in, redact


def system_text(request: LlmRequest) -> str | None:
    """The system instruction as one string (parts joined by blank lines), or ``None``."""
    si = request.config.system_instruction if request.config else None
    if si is None:
        return None
    if isinstance(si, str):
        return si or None
    parts: list[Any]
    if isinstance(si, types.Content):
        parts = list(si.parts or [])
    elif isinstance(si, list):
        parts = si
    else:
        parts = [si]
    texts = [p if isinstance(p, str) else (getattr(p, "text", None) or "") for p in parts]
    joined = "\n\n".join(t for t in texts if t)
    return joined or None


def declarations(request: LlmRequest) -> list[types.FunctionDeclaration]:
    """Every function declaration offered to the model in ``request``."""
    out: list[types.FunctionDeclaration] = []
    for tool in (request.config.tools if request.config else None) or []:
        out.extend(getattr(tool, "function_declarations", None) or [])
    return out


def response_text(response: Any) -> str:
    """A tool's result as the string vendors expect in a tool-result message."""
    if isinstance(response, str):
        return response
    if isinstance(response, dict) and set(response) == {"result"} and isinstance(response["result"], str):
        return response["result"]
    return json.dumps(response, default=str, ensure_ascii=False)


def short_id(raw: str, *, prefix: str, limit: int) -> str:
    """A deterministic id of at most ``limit`` chars standing for ``raw``."""
    digest = hashlib.sha256(raw.encode()).hexdigest()
    return (prefix + digest)[:limit]


FINISH = {
    # openai
    "stop": types.FinishReason.STOP,
    "tool_calls": types.FinishReason.STOP,
    "function_call": types.FinishReason.STOP,
    "length": types.FinishReason.MAX_TOKENS,
    "content_filter": types.FinishReason.SAFETY,
    # anthropic
    "end_turn": types.FinishReason.STOP,
    "tool_use": types.FinishReason.STOP,
    "stop_sequence": types.FinishReason.STOP,
    "pause_turn": types.FinishReason.STOP,
    "max_tokens": types.FinishReason.MAX_TOKENS,
    "refusal": types.FinishReason.SAFETY,
}


def partial(text: str, thought: bool = False) -> LlmResponse | None:
    """A streamed delta: pushed to the turn's token relay when there is one (then ``None``: nothing
    to yield), else the partial response to yield (:mod:`magec.backends.relay`)."""
    text = no_surrogates(text)  # the provider's text: a lone surrogate could not be encoded
    sink = current_relay()
    if sink is not None:
        sink.text(text, thought)
        return None
    part = types.Part(text=text, thought=True) if thought else types.Part.from_text(text=text)
    return LlmResponse(content=types.Content(role="model", parts=[part]), partial=True)


#: the largest token count believed for one model call: far beyond any model's context (a few
#: million tokens) and far below every SQL integer column a count is summed into (the audit's is
#: 32-bit), so no sum of believed counts overflows either
MAX_TOKENS = 100_000_000


def sane_tokens(value: Any) -> int | None:
    """A provider's token count if it is a believable one (an integer in ``0..MAX_TOKENS``), else
    ``None`` (unknown).

    Why: usage is whatever answers at the backend's URL says. A negative count broke the turn (a
    Prometheus counter refuses to go down: 500), ``10**30`` overflowed the SQL columns costs are
    summed in, fractions, strings, booleans and NaN made costs meaningless. Unknown counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_TOKENS else None


def sane_usage(
    meta: types.GenerateContentResponseUsageMetadata | None,
) -> types.GenerateContentResponseUsageMetadata | None:
    """``meta`` with every ``*_token_count`` passed through :func:`sane_tokens` (the per-modality
    details dropped when any count was not believable: they are the same provider's word), and
    the total recomputed when it is missing or unbelievable. ``None`` stays ``None``."""
    if meta is None:
        return None
    fields = {name: getattr(meta, name) for name in type(meta).model_fields if name.endswith("_token_count")}
    sane = {name: sane_tokens(value) if value is not None else None for name, value in fields.items()}
    if sane == fields:
        return meta
    total = sane.get("total_token_count")
    if total is None:
        total = (sane.get("prompt_token_count") or 0) + (sane.get("candidates_token_count") or 0)
    counts: dict[str, Any] = {**sane, "total_token_count": total}
    return types.GenerateContentResponseUsageMetadata(**counts)


@dataclass
class _Call:
    id: str | None = None
    name: str | None = None
    args: str = ""
    parsed: dict[str, Any] | None = None


@dataclass
class TurnAccumulator:
    """Collects one model turn. ``add_text`` returns the partial response to yield for a delta."""

    backend: str | None = None
    text: str = ""
    thought: str = ""
    calls: dict[int, _Call] = field(default_factory=dict)
    finish_raw: str | None = None
    usage: types.GenerateContentResponseUsageMetadata | None = None
    model_version: str | None = None
    #: a streaming call under a token relay pushes deltas there instead of returning partials
    relay: Relay | None = None

    def add_text(self, delta: str | None) -> LlmResponse | None:
        if not delta:
            return None
        # the provider's text goes to clients and the session: a lone surrogate (which JSON can
        # spell) could not be encoded there (magec.redact.no_surrogates)
        delta = no_surrogates(delta)
        self.text += delta
        if self.relay is not None:
            self.relay.text(delta)
            return None
        return LlmResponse(content=prebuilt.content("model", [prebuilt.text_part(delta)]), partial=True)

    async def handoff(self) -> None:
        """After each read of a stream: let the edge write the turn's first relayed delta now
        (:meth:`magec.backends.relay.Relay.handoff`)."""
        if self.relay is not None:
            await self.relay.handoff()

    def add_thought(self, delta: str | None) -> LlmResponse | None:
        if not delta:
            return None
        delta = no_surrogates(delta)  # as add_text
        self.thought += delta
        if self.relay is not None:
            self.relay.text(delta, thought=True)
            return None
        part = types.Part(text=delta, thought=True)
        return LlmResponse(content=types.Content(role="model", parts=[part]), partial=True)

    def add_call(
        self,
        index: int,
        *,
        id: str | None = None,
        name: str | None = None,
        args_delta: str | None = None,
        args: dict[str, Any] | None = None,
    ) -> None:
        call = self.calls.setdefault(index, _Call())
        # stored and sent back as they are: no lone surrogates (as add_text)
        call.id = no_surrogates(id) if id else call.id
        call.name = no_surrogates(name) if name else call.name
        if args_delta:
            call.args += no_surrogates(args_delta)
        if args is not None:
            call.parsed = no_surrogates_in(args)

    def set_usage(self, prompt: Any, completion: Any, total: Any = None) -> None:
        """The provider's counts as it sent them; unbelievable ones are unknown (:func:`sane_tokens`)."""
        prompt, completion, total = sane_tokens(prompt), sane_tokens(completion), sane_tokens(total)
        if prompt is None and completion is None:
            return
        self.usage = types.GenerateContentResponseUsageMetadata(
            prompt_token_count=prompt,
            candidates_token_count=completion,
            total_token_count=total if total is not None else (prompt or 0) + (completion or 0),
        )

    def _args(self, call: _Call) -> dict[str, Any]:
        if call.parsed is not None:
            return call.parsed
        if not call.args.strip():
            return {}
        try:  # the model's text: NaN or deep nesting is as malformed as a syntax error
            value = jsontext.decode(call.args, "arguments")
        except ValidationError as e:
            raise MalformedResponseError(
                redact(f"{self.backend or 'backend'}: tool call {call.name!r} has invalid JSON arguments"),
                backend=self.backend,
            ) from e
        return value if isinstance(value, dict) else {"value": value}

    def final(self, id_map: dict[str, str] | None = None) -> LlmResponse:
        """The aggregated, non-partial response; tool-call ids are mapped back through ``id_map``."""
        parts: list[types.Part] = []
        if self.thought:
            parts.append(types.Part(text=self.thought, thought=True))
        if self.text:
            parts.append(prebuilt.text_part(self.text))
        for _, call in sorted(self.calls.items()):
            if not call.name:
                continue
            call_id = (id_map or {}).get(call.id or "", call.id)
            fc = types.FunctionCall(id=call_id, name=call.name, args=self._args(call))
            parts.append(types.Part(function_call=fc))
        finish = FINISH.get(self.finish_raw or "", types.FinishReason.OTHER if self.finish_raw else None)
        return LlmResponse(
            # built as pydantic would, without genai's validator walking every field of each object
            # (~8 µs an object; backends/prebuilt.py, held equal to the validated ones by tests)
            content=prebuilt.content("model", parts),
            partial=False,
            turn_complete=True,
            finish_reason=finish,
            usage_metadata=self.usage,
            # what the provider says it ran goes to clients and the session as ``modelVersion``:
            # whatever answers at a backend's URL may echo a key there
            model_version=redact(self.model_version) if self.model_version else None,
        )
