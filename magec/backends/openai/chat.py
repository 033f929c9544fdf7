"""OpenAI Chat Completions as an ADK ``BaseLlm``.

Streaming yields one partial ``LlmResponse`` per text delta — or, under a token relay
(:mod:`magec.backends.relay`), pushes the deltas there — and then the aggregated final response (text, tool calls incl. parallel calls with streamed argument deltas, finish reason,
usage). ``stream=False`` sends a one-shot request and feeds its single answer through the same
:class:`~magec.backends._llm.TurnAccumulator`, so both modes produce the same final response from
one code path while servers without streaming still work. A stream that stops before a finish
reason raises :class:`~magec.errors.MalformedResponseError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from google.adk.models import BaseLlm, LlmCapabilities, LlmRequest, LlmResponse
from openai.types.chat import ChatCompletion
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
from magec.backends._transport import LONG_REQUEST, json_body
from magec.backends.openai.connection import OpenAIConnection, map_error
from magec.backends.openai.content import split_content
from magec.backends.openai.messages import build_messages, build_tools, generation_options
from magec.backends.openai.stream import ChunkBatches, feed
from magec.loop import off_loop


class OpenAIChat(BaseLlm):
    """``model`` is the provider's model id; the connection supplies URL, key, headers, timeout."""

    _conn: OpenAIConnection = PrivateAttr()

    def __init__(self, connection: OpenAIConnection, model: str, **kw: Any) -> None:
        super().__init__(model=model, **kw)
        self._conn = connection

    @property
    def connection(self) -> OpenAIConnection:
        return self._conn

    @property
    def capabilities(self) -> LlmCapabilities:
        return LlmCapabilities(output_schema_and_tools=True)

    def request_body(self, llm_request: LlmRequest, id_map: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": llm_request.model or self.model,
            "messages": build_messages(llm_request, id_map),
        }
        tools = build_tools(llm_request)
        if tools:
            body["tools"] = tools
        body.update(generation_options(llm_request))
        return body

    def payload(self, llm_request: LlmRequest, id_map: dict[str, str], stream: bool) -> bytes:
        """:meth:`request_body` as the JSON bytes sent (:func:`magec.backends._transport.json_body`:
        a long history is encoded a message at a time, not in one GIL-holding call)."""
        body = self.request_body(llm_request, id_map)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return json_body(body)

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
        if len(llm_request.contents) > LONG_REQUEST:
            # a long history's mapping and JSON would hold the event loop; in a thread they share the GIL
            content = await off_loop(self.payload, llm_request, id_map, stream)
        else:
            content = self.payload(llm_request, id_map, stream)
        acc = TurnAccumulator(backend=self._conn.label, relay=relay.current() if stream else None)
        state = CallState()
        with mapped(map_error, self._conn.label, state):
            client = self._conn.client
            # ``client.post`` (the SDK's documented call for any endpoint) sends our JSON bytes as
            # they are: ``chat.completions.create`` re-walks every message against its TypedDicts
            # first, ~2 ms of event-loop CPU per message of a long history (a 16k-message request
            # held the loop for half a minute); the answer is parsed into the same SDK types.
            if stream:
                # a network read at a time, as plain JSON (magec.backends.openai.stream: the SDK's
                # per-chunk models cost more than everything else a relayed token does)
                batches = await client.post(
                    self._conn.endpoint("chat/completions"),
                    content=content,
                    cast_to=ChatCompletion,
                    stream=True,
                    stream_cls=ChunkBatches,
                )
                try:
                    async for batch in batches:
                        state.started = True
                        for chunk in batch:
                            for partial in feed(acc, chunk):
                                yield partial
                        await acc.handoff()
                finally:
                    await batches.close()
                if acc.finish_raw is None:
                    raise stream_incomplete(self._conn.label)
            else:
                # ``cast_to=object``: the SDK hands back the JSON body as parsed, without building its
                # pydantic models (1.9 % of a stateless turn's CPU at c=64); read defensively below
                completion = await client.post(self._conn.endpoint("chat/completions"), content=content, cast_to=object)
                _feed_completion(acc, completion, self._conn.label)
            if acc.finish_raw == "content_filter":
                raise content_filtered(self._conn.label)
            yield acc.final(id_map)


def _feed_completion(acc: TurnAccumulator, completion: Any, backend: str) -> None:
    """A ``chat.completion`` JSON body into ``acc`` (the first choice; n > 1 is never requested)."""
    completion = json_object(completion, backend)
    # every text field as a stream's (magec.backends.openai.stream.feed): of another type, malformed
    acc.model_version = text_field(completion.get("model"), backend, "model") or acc.model_version
    usage = completion.get("usage")
    if isinstance(usage, dict):
        acc.set_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens"))
    choices = completion.get("choices")
    if not choices:
        acc.finish_raw = "stop"
        return
    choice = choices[0] if isinstance(choices, list) else None
    if not isinstance(choice, dict) or not isinstance(message := choice.get("message"), dict):
        raise malformed(backend, "choices[0].message is not an object")
    # OpenAI-compatible reasoning servers (Ollama, vLLM, DeepSeek) answer "reasoning_content"
    text, thinking = split_content(message.get("content"), backend, "choices[0].message.content")
    reasoning = (text_field(message.get("reasoning_content"), backend, "choices[0].message.reasoning_content")
                 or text_field(message.get("reasoning"), backend, "choices[0].message.reasoning"))
    acc.add_thought(reasoning or thinking)
    acc.add_text(text)
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise malformed(backend, "choices[0].message.tool_calls is not a list")
    for i, tc in enumerate(calls):
        fn = tc.get("function") if isinstance(tc, dict) else None
        if not isinstance(fn, dict):
            raise malformed(backend, f"choices[0].message.tool_calls[{i}] has no function")
        where = f"choices[0].message.tool_calls[{i}]"
        acc.add_call(
            i,
            id=text_field(tc.get("id"), backend, f"{where}.id"),
            name=text_field(fn.get("name"), backend, f"{where}.function.name"),
            args_delta=text_field(fn.get("arguments"), backend, f"{where}.function.arguments"),
        )
    acc.finish_raw = text_field(choice.get("finish_reason"), backend, "choices[0].finish_reason") or "stop"
