"""OpenAI Chat Completions as an ADK ``BaseLlm``.

Streaming yields one partial ``LlmResponse`` per text delta — or, under a token relay
(:mod:`magec.backends.relay`), pushes the deltas there — and then the aggregated final response (text, tool calls incl. parallel calls with streamed argument deltas, finish reason,
usage). ``stream=False`` sends a one-shot request and feeds its single answer through the same
:class:`~magec.backends._llm.TurnAccumulator`, so both modes produce the same final response from
one code path while servers without streaming still work. A stream that stops before a finish
reason raises :class:`~magec.errors.MalformedResponseError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from google.adk.models import BaseLlm, LlmCapabilities, LlmRequest, LlmResponse
from openai.types.chat import ChatCompletion
from pydantic import PrivateAttr

from magec.backends import relay
from magec.backends._errors import CallState, content_filtered, mapped, stream_incomplete
from magec.backends._llm import TurnAccumulator
from magec.backends._resilience import Policy, resilient
from magec.backends.openai.connection import OpenAIConnection, map_error
from magec.backends.openai.messages import build_messages, build_tools, generation_options
from magec.backends.openai.stream import ChunkBatches, feed

#: contents above which the request body is built in a worker thread
LONG_REQUEST = 512


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
            # a long history's mapping would hold the event loop; in a thread it shares the GIL
            body = await asyncio.to_thread(self.request_body, llm_request, id_map)
        else:
            body = self.request_body(llm_request, id_map)
        acc = TurnAccumulator(backend=self._conn.label, relay=relay.current() if stream else None)
        state = CallState()
        with mapped(map_error, self._conn.label, state):
            client = self._conn.client
            # ``client.post`` (the SDK's documented call for any endpoint) sends our JSON-ready body
            # as is: ``chat.completions.create`` re-walks every message against its TypedDicts
            # first, ~2 ms of event-loop CPU per message of a long history (a 16k-message request
            # held the loop for half a minute); the answer is parsed into the same SDK types.
            if stream:
                # a network read at a time, as plain JSON (magec.backends.openai.stream: the SDK's
                # per-chunk models cost more than everything else a relayed token does)
                batches = await client.post(
                    "/chat/completions",
                    body={**body, "stream": True, "stream_options": {"include_usage": True}},
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
                finally:
                    await batches.close()
                if acc.finish_raw is None:
                    raise stream_incomplete(self._conn.label)
            else:
                completion = await client.post("/chat/completions", body=body, cast_to=ChatCompletion)
                _feed_completion(acc, completion)
            if acc.finish_raw == "content_filter":
                raise content_filtered(self._conn.label)
            yield acc.final(id_map)


def _feed_completion(acc: TurnAccumulator, completion: Any) -> None:
    acc.model_version = completion.model
    if completion.usage is not None:
        u = completion.usage
        acc.set_usage(u.prompt_tokens, u.completion_tokens, u.total_tokens)
    if not completion.choices:
        acc.finish_raw = "stop"
        return
    choice = completion.choices[0]
    message = choice.message
    extra = message.model_extra or {}
    acc.add_thought(extra.get("reasoning_content") or extra.get("reasoning"))
    acc.add_text(message.content)
    for i, tc in enumerate(message.tool_calls or []):
        fn = getattr(tc, "function", None)
        acc.add_call(i, id=tc.id, name=fn.name if fn else None, args_delta=fn.arguments if fn else None)
    acc.finish_raw = choice.finish_reason or "stop"
