"""Anthropic Messages as an ADK ``BaseLlm``.

Streaming uses the raw event stream (``message_start`` … ``message_stop``): one partial
``LlmResponse`` per ``text_delta``, tool inputs assembled from ``input_json_delta``; then the
aggregated final response. ``stream=False`` feeds the single ``Message`` through the same
:class:`~magec.backends._llm.TurnAccumulator`. A stream without ``message_stop`` raises
:class:`~magec.errors.MalformedResponseError`; ``stop_reason: refusal`` raises
:class:`~magec.errors.ContentFilteredError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from google.adk.models import BaseLlm, LlmCapabilities, LlmRequest, LlmResponse
from pydantic import PrivateAttr

from magec.backends import relay
from magec.backends._errors import CallState, content_filtered, mapped, stream_incomplete
from magec.backends._llm import TurnAccumulator
from magec.backends._resilience import Policy, resilient
from magec.backends.anthropic.connection import AnthropicConnection, map_error
from magec.backends.anthropic.messages import build_body


class AnthropicChat(BaseLlm):
    _conn: AnthropicConnection = PrivateAttr()

    def __init__(self, connection: AnthropicConnection, model: str, **kw: Any) -> None:
        super().__init__(model=model, **kw)
        self._conn = connection

    @property
    def connection(self) -> AnthropicConnection:
        return self._conn

    @property
    def capabilities(self) -> LlmCapabilities:
        return LlmCapabilities(output_schema_and_tools=True)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        """One model call under the backend's deadlines and retries (:mod:`magec.backends._resilience`)."""
        policy = Policy.of(self._conn.spec, self._conn.label)
        async with aclosing(resilient(policy, lambda: self._attempt(llm_request, stream))) as responses:
            async for response in responses:
                yield response

    async def _attempt(self, llm_request: LlmRequest, stream: bool) -> AsyncGenerator[LlmResponse, None]:
        id_map: dict[str, str] = {}
        body = build_body(llm_request, llm_request.model or self.model, id_map)
        label = self._conn.label
        acc = TurnAccumulator(backend=label, relay=relay.current() if stream else None)
        state = CallState()
        with mapped(map_error, label, state):
            client = self._conn.client
            if stream:
                done = False
                events = await client.messages.create(**body, stream=True)
                async for event in events:
                    state.started = True
                    partial = _feed_event(acc, event)
                    if partial is not None:
                        yield partial
                    await acc.handoff()
                    done = done or event.type == "message_stop"
                if not done or acc.finish_raw is None:
                    raise stream_incomplete(label)
            else:
                message = await client.messages.create(**body)
                _feed_message(acc, message)
            if acc.finish_raw == "refusal":
                raise content_filtered(label)
            yield acc.final(id_map)


def _feed_event(acc: TurnAccumulator, event: Any) -> LlmResponse | None:
    kind = event.type
    if kind == "message_start":
        acc.model_version = event.message.model
        usage = event.message.usage
        acc.set_usage(usage.input_tokens, usage.output_tokens)
    elif kind == "content_block_start":
        block = event.content_block
        if block.type == "tool_use":
            acc.add_call(event.index, id=block.id, name=block.name)
    elif kind == "content_block_delta":
        delta = event.delta
        if delta.type == "text_delta":
            return acc.add_text(delta.text)
        if delta.type == "input_json_delta":
            acc.add_call(event.index, args_delta=delta.partial_json)
        elif delta.type == "thinking_delta":
            return acc.add_thought(delta.thinking)
    elif kind == "message_delta":
        acc.finish_raw = event.delta.stop_reason or acc.finish_raw
        prompt = acc.usage.prompt_token_count if acc.usage else None
        acc.set_usage(prompt, event.usage.output_tokens)
    return None


def _feed_message(acc: TurnAccumulator, message: Any) -> None:
    acc.model_version = message.model
    acc.set_usage(message.usage.input_tokens, message.usage.output_tokens)
    for i, block in enumerate(message.content):
        if block.type == "text":
            acc.add_text(block.text)
        elif block.type == "thinking":
            acc.add_thought(block.thinking)
        elif block.type == "tool_use":
            acc.add_call(i, id=block.id, name=block.name, args=dict(block.input or {}))
    acc.finish_raw = message.stop_reason or "end_turn"
