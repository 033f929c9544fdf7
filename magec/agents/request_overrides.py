"""Per-request overrides of an agent's model calls (the OpenAI surface's client parameters).

Contract: the HTTP edge builds one :class:`Overrides` per request and runs the turn inside
:func:`applied`; :func:`before_model` — registered on every built agent by
:func:`magec.agents.build.build_llm_agent` — reads it from a context variable before each model
call of that turn and

* appends the client's ``instructions`` (OpenAI ``system`` / ``developer`` messages) to the system
  instruction as a separate paragraph, after the agent's own prompt;
* sets the generation fields the client sent (``temperature``, ``top_p``, ``max_output_tokens``,
  ``stop_sequences``, ``seed``, penalties, ``response_mime_type`` / ``response_json_schema``) on
  ``llm_request.config`` — a schema is also stated in the system instruction, for backends
  without native structured output (Anthropic's adapter). Precedence: a field the client sent wins over the agent's configured
  value for this request; a field it did not send keeps the agent's value;
* offers the client's function tools next to the agent's own as :class:`ClientTool` (a long-running
  ADK tool whose call is never executed server-side: the call event ends the turn and the client's
  answer continues it as a ``FunctionResponse``). A client tool named like one of the agent's own
  tools is refused with :class:`~magec.errors.ValidationError` naming it — the agent's tools are
  never shadowed;
* places a stateless call's history (``history``) before the turn's own contents, on every call;
* applies ``tool_choice`` to the first model call of the turn only (OpenAI's meaning: it constrains
  this completion; forcing it on every step would loop on server-side tools).

Outside :func:`applied` (the ADK-shaped run API, flows started elsewhere) it does nothing.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from google.adk.tools.base_tool import BaseTool
from google.genai import types

from magec import heap
from magec.errors import ValidationError


class ClientTool(BaseTool):
    """A tool the client declared: offered to the model, executed by the client.

    ``is_long_running`` with a ``None`` result makes ADK record the call without a response and
    end the turn there (the call event is final); the client's ``role: "tool"`` message later
    answers it with a ``FunctionResponse`` carrying the call's id.
    """

    def __init__(self, declaration: types.FunctionDeclaration) -> None:
        super().__init__(name=declaration.name or "", description=declaration.description or "",
                         is_long_running=True)
        self.declaration = declaration

    def _get_declaration(self) -> types.FunctionDeclaration:
        return self.declaration

    async def run_async(self, *, args: dict[str, Any], tool_context: Any) -> Any:
        return None


@dataclass
class Overrides:
    """What one request changes in the model calls of its turn."""

    #: extra system text for this turn (client system/developer messages), or ""
    instructions: str = ""
    #: GenerateContentConfig field -> value, only the fields the client sent
    config: dict[str, Any] = field(default_factory=dict)
    #: client function tools, offered next to the agent's own
    tools: list[types.FunctionDeclaration] = field(default_factory=list)
    #: tool_choice for the first model call: None (model decides), "none", "required" or a tool name
    tool_choice: str | None = None
    #: model calls made so far in this turn (tool_choice applies to the first only)
    calls: int = 0
    #: a stateless call's earlier messages, placed before the turn's own contents on every model
    #: call (they never become session events: see magec.api.user.openai.turns)
    history: list[types.Content] = field(default_factory=list)

    @property
    def tool_names(self) -> set[str]:
        return {d.name for d in self.tools if d.name}


_current: contextvars.ContextVar[Overrides | None] = contextvars.ContextVar("magec_request_overrides", default=None)


@contextmanager
def applied(overrides: Overrides | None) -> Iterator[None]:
    """Run the body (a turn) with ``overrides`` applied to its model calls; at its end the
    overrides let go of the stateless history they carried."""
    token = _current.set(overrides)
    try:
        yield
    finally:
        try:
            _current.reset(token)
        except ValueError:  # reset from another context (a generator closed elsewhere): harmless
            _current.set(None)
        if overrides is not None:
            # Every timer started during the turn keeps a copy of its context, and with it these
            # overrides: on asyncio's own loop a cancelled timer stays queued until its time (an
            # SDK's 300 s read deadline), so a 16k-message history outlived its request by minutes
            # (~96k objects a request; uvloop drops a cancelled timer's context at once). The list
            # is emptied in place (the conversation holds it too) and its messages freed off the
            # event loop.
            heap.let_go(overrides.history)
            overrides.history = []


def current() -> Overrides | None:
    return _current.get()


def _tool_config(choice: str) -> types.ToolConfig:
    if choice == "none":
        return types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.NONE))
    if choice == "required":
        return types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY))
    return types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=[choice]
        )
    )


def before_model(callback_context: Any, llm_request: Any) -> None:
    """ADK ``before_model_callback``: apply the current request's overrides (never answers itself)."""
    ov = _current.get()
    if ov is None:
        return None
    first = ov.calls == 0
    ov.calls += 1
    if ov.history:  # first, so the context guard trims it and the secrets guard masks it
        llm_request.contents = [*ov.history, *llm_request.contents]
    if ov.instructions:
        llm_request.append_instructions(["Instructions from the client for this turn:\n" + ov.instructions])
    schema = ov.config.get("response_json_schema")
    if schema is not None:
        # Backends with native structured output get the schema in the config too; this line is
        # what reaches one without (and helps every model keep to it).
        llm_request.append_instructions(
            ["Answer with only a JSON object that follows this JSON schema:\n" + json.dumps(schema)]
        )
    if ov.config:
        for key, value in ov.config.items():
            setattr(llm_request.config, key, value)
    if ov.tools:
        for decl in ov.tools:
            if decl.name in llm_request.tools_dict:
                raise ValidationError(
                    f"tools: {decl.name!r} is the name of one of the agent's own tools; rename the client tool",
                    field="tools",
                )
        llm_request.append_tools([ClientTool(d) for d in ov.tools])
    if first and ov.tool_choice:
        llm_request.config.tool_config = _tool_config(ov.tool_choice)
    return None


def chain(existing: Any) -> list[Any]:
    """``before_model_callback`` value with :func:`before_model` first, then ``existing`` (a
    callback, a list of them, or None)."""
    if existing is None:
        return [before_model]
    if isinstance(existing, list):
        return [before_model, *existing]
    return [before_model, existing]
