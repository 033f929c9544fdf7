"""Anthropic Messages as an ADK ``BaseLlm``.

Streaming uses the raw event stream (``message_start`` … ``message_stop``): one partial
``LlmResponse`` per ``text_delta``, tool inputs assembled from ``input_json_delta``; then the
aggregated final response. ``stream=False`` feeds the single message through the same
:class:`~magec.backends._llm.TurnAccumulator`. A stream without ``message_stop`` raises
:class:`~magec.errors.MalformedResponseError`; ``stop_reason: refusal`` raises
:class:`~magec.errors.ContentFilteredError`.

The request goes out through the SDK's documented ``client.post`` with the body as JSON bytes
(:func:`~magec.backends.anthropic.messages.payload`), and answers and stream events come back as
plain JSON (``cast_to=object``; the SDK's own ``AsyncStream`` decodes the events, skips pings and
raises an ``error`` event as its status error). Why not ``messages.create``: it walks the whole
body to copy it (a 16k-message history held the event loop ~0.5 s) and builds a pydantic model per
stream event; headers, auth, timeouts, retries-off and status errors stay the SDK's either way.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import anthropic
from google.adk.models import BaseLlm, LlmCapabilities, LlmRequest, LlmResponse
from pydantic import PrivateAttr

from magec.backends import relay
from magec.backends._errors import (
    CallState,
    content_filtered,
    json_object,
    malformed,
    mapped,
    stream_incomplete,
    text_field,
)
from magec.backends._llm import TurnAccumulator
from magec.backends._resilience import Policy, resilient
from magec.backends._transport import LONG_REQUEST
from magec.backends.anthropic.connection import AnthropicConnection, map_error
from magec.backends.anthropic.messages import payload
from magec.loop import off_loop


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
        model = llm_request.model or self.model
        if len(llm_request.contents) > LONG_REQUEST:
            # a long history's mapping and JSON would hold the event loop; in a thread they share the GIL
            content = await off_loop(payload, llm_request, model, id_map, stream)
        else:
            content = payload(llm_request, model, id_map, stream)
        label = self._conn.label
        acc = TurnAccumulator(backend=label, relay=relay.current() if stream else None)
        state = CallState()
        with mapped(map_error, label, state):
            client = self._conn.client
            url = self._conn.endpoint("v1/messages")
            if stream:
                done = False
                events = await client.post(
                    url, content=content, cast_to=object, stream=True, stream_cls=anthropic.AsyncStream[object]
                )
                try:
                    async for event in events:
                        state.started = True
                        partial = _feed_event(acc, event, label)
                        if partial is not None:
                            yield partial
                        await acc.handoff()
                        done = done or _dict(event).get("type") == "message_stop"
                finally:
                    await events.close()
                if not done or acc.finish_raw is None:
                    raise stream_incomplete(label)
            else:
                message = await client.post(url, content=content, cast_to=object)
                _feed_message(acc, message, label)
            if acc.finish_raw == "refusal":
                raise content_filtered(label)
            yield acc.final(id_map)


def _feed_event(acc: TurnAccumulator, event: Any, backend: str) -> LlmResponse | None:
    """One stream event (a JSON object) into ``acc``; the partial response to yield, if any."""
    if not isinstance(event, dict):
        raise malformed(backend, "a stream event is not a JSON object")
    kind = event.get("type")
    if kind == "message_start":
        message = _dict(event.get("message"))
        acc.model_version = _str(message.get("model")) or acc.model_version
        usage = _dict(message.get("usage"))
        acc.set_usage(_int(usage.get("input_tokens")), _int(usage.get("output_tokens")))
    elif kind == "content_block_start":
        block = _dict(event.get("content_block"))
        if block.get("type") == "tool_use":
            acc.add_call(_index(event, backend), id=_str(block.get("id")), name=_str(block.get("name")))
    elif kind == "content_block_delta":
        delta = _dict(event.get("delta"))
        dtype = delta.get("type")
        if dtype == "text_delta":
            return acc.add_text(text_field(delta.get("text"), backend, "content_block_delta.delta.text"))
        if dtype == "input_json_delta":
            acc.add_call(_index(event, backend), args_delta=_str(delta.get("partial_json")))
        elif dtype == "thinking_delta":
            return acc.add_thought(text_field(delta.get("thinking"), backend, "content_block_delta.delta.thinking"))
    elif kind == "message_delta":
        acc.finish_raw = _str(_dict(event.get("delta")).get("stop_reason")) or acc.finish_raw
        prompt = acc.usage.prompt_token_count if acc.usage else None
        acc.set_usage(prompt, _int(_dict(event.get("usage")).get("output_tokens")))
    return None


def _feed_message(acc: TurnAccumulator, message: Any, backend: str) -> None:
    """A non-streamed message (its JSON body) into ``acc``."""
    message = json_object(message, backend)
    acc.model_version = _str(message.get("model")) or acc.model_version
    usage = _dict(message.get("usage"))
    acc.set_usage(_int(usage.get("input_tokens")), _int(usage.get("output_tokens")))
    blocks = message.get("content") or []
    if not isinstance(blocks, list):
        raise malformed(backend, "content is not a list")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise malformed(backend, f"content[{i}] is not an object")
        kind = block.get("type")
        if kind == "text":
            acc.add_text(text_field(block.get("text"), backend, f"content[{i}].text"))
        elif kind == "thinking":
            acc.add_thought(text_field(block.get("thinking"), backend, f"content[{i}].thinking"))
        elif kind == "tool_use":
            args = block.get("input") or {}
            if not isinstance(args, dict):
                raise malformed(backend, f"content[{i}].input is not an object")
            acc.add_call(i, id=_str(block.get("id")), name=_str(block.get("name")), args=args)
    acc.finish_raw = _str(message.get("stop_reason")) or "end_turn"


def _index(event: dict[str, Any], backend: str) -> int:
    index = event.get("index", 0)
    if not isinstance(index, int):
        raise malformed(backend, f"{event.get('type')}.index is not an integer")
    return index


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

