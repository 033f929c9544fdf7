"""Gemini ``generateContent`` / ``streamGenerateContent`` as an ADK ``BaseLlm``.

ADK's contents and config are Gemini's own vocabulary, so translation is limited to: tool
parameter schemas reduced to Gemini's subset (:func:`~magec.backends._schema.gemini_sanitize`),
automatic function calling disabled (ADK runs the tool loop), and a copy of the config (ADK's
request is never mutated). Both modes go through ADK's ``StreamingResponseAggregator``: the
non-streamed answer is fed to it as a one-chunk stream, so the final responses are identical.
Safety blocks raise :class:`~magec.errors.ContentFilteredError`; a stream without a finish reason
raises :class:`~magec.errors.MalformedResponseError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from google.adk.models import BaseLlm, LlmCapabilities, LlmRequest, LlmResponse
from google.adk.utils.streaming_utils import StreamingResponseAggregator
from google.genai import types
from pydantic import PrivateAttr

from magec.backends import relay
from magec.backends._errors import CallState, content_filtered, mapped, stream_incomplete
from magec.backends._llm import sane_usage
from magec.backends._resilience import Policy, resilient
from magec.backends._schema import declaration_parameters, gemini_sanitize
from magec.backends.gemini.connection import GeminiConnection, map_error
from magec.redact import no_surrogates, no_surrogates_in, redact

_BLOCKED = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY"}


def sanitized_config(config: types.GenerateContentConfig | None) -> types.GenerateContentConfig:
    """A copy of ``config`` with Gemini-safe tool schemas and automatic function calling off."""
    cfg = config.model_copy(deep=True) if config is not None else types.GenerateContentConfig()
    tools: list[Any] = []
    for tool in cfg.tools or []:
        fds = tool.function_declarations if isinstance(tool, types.Tool) else None
        if not isinstance(tool, types.Tool) or not fds:
            tools.append(tool)
            continue
        clean = []
        for fd in fds:
            schema = gemini_sanitize(declaration_parameters(fd))
            clean.append(
                fd.model_copy(
                    update={
                        "parameters": types.Schema.model_validate(schema),
                        "parameters_json_schema": None,
                        "response_json_schema": None,
                    }
                )
            )
        tools.append(tool.model_copy(update={"function_declarations": clean}))
    cfg.tools = tools or None
    cfg.automatic_function_calling = types.AutomaticFunctionCallingConfig(disable=True)
    cfg.http_options = None
    return cfg


def _check_blocked(response: types.GenerateContentResponse, label: str) -> None:
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None and not response.candidates:
        raise content_filtered(label, str(getattr(feedback.block_reason, "name", feedback.block_reason)))
    for candidate in response.candidates or []:
        reason = candidate.finish_reason
        name = getattr(reason, "name", str(reason)) if reason is not None else ""
        if name in _BLOCKED:
            raise content_filtered(label, name)


class GeminiChat(BaseLlm):
    _conn: GeminiConnection = PrivateAttr()

    def __init__(self, connection: GeminiConnection, model: str, **kw: Any) -> None:
        super().__init__(model=model, **kw)
        self._conn = connection

    @property
    def connection(self) -> GeminiConnection:
        return self._conn

    @property
    def capabilities(self) -> LlmCapabilities:
        return LlmCapabilities(output_schema_and_tools=False)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        """One model call under the backend's deadlines and retries (:mod:`magec.backends._resilience`)."""
        policy = Policy.of(self._conn.spec, self._conn.label)
        async with aclosing(resilient(policy, lambda: self._attempt(llm_request, stream))) as responses:
            async for response in responses:
                yield response

    async def _attempt(self, llm_request: LlmRequest, stream: bool) -> AsyncGenerator[LlmResponse, None]:
        label = self._conn.label
        model = llm_request.model or self.model
        config = sanitized_config(llm_request.config)
        contents: list[Any] = list(llm_request.contents or [])
        aggregator = StreamingResponseAggregator()
        state = CallState()
        finished = False
        usage = None
        with mapped(map_error, label, state):
            models = self._conn.client.aio.models
            if stream:
                responses = await models.generate_content_stream(
                    model=model, contents=contents, config=config
                )
            else:
                one = await models.generate_content(model=model, contents=contents, config=config)
                responses = _once(one)
            async for response in responses:
                state.started = True
                _no_surrogates(response)
                _check_blocked(response, label)
                usage = response.usage_metadata or usage
                finished = finished or any(c.finish_reason for c in response.candidates or [])
                async for partial in aggregator.process_response(response):
                    if stream and partial.partial and not _relayed(partial):
                        if partial.model_version:
                            partial.model_version = redact(partial.model_version)
                        yield partial
                sink = relay.current() if stream else None
                if sink is not None:
                    await sink.handoff()  # the first relayed delta goes out before the turn goes on
            if not finished:
                raise stream_incomplete(label)
            final = aggregator.close()
            if final is None:
                final = LlmResponse(content=types.Content(role="model", parts=[]))
            final.partial = False
            final.turn_complete = True
            # the provider's counts go to costs and metrics: unbelievable ones are unknown
            final.usage_metadata = sane_usage(usage or final.usage_metadata)
            if final.model_version:  # reaches clients as ``modelVersion``: as the other backends do
                final.model_version = redact(final.model_version)
            yield final


async def _once(
    response: types.GenerateContentResponse,
) -> AsyncGenerator[types.GenerateContentResponse, None]:
    yield response


def _no_surrogates(response: types.GenerateContentResponse) -> None:
    """Lone surrogates in the answer's text and calls replaced by U+FFFD, in place.

    Why: the text reaches clients and the session, which encode it as UTF-8; a lone surrogate
    (JSON can spell one) cannot be, and broke the answer (a 500, a cut stream, an unwritable
    event). See :func:`magec.redact.no_surrogates`."""
    for candidate in response.candidates or []:
        for part in (candidate.content.parts if candidate.content is not None else None) or []:
            if part.text:
                part.text = no_surrogates(part.text)
            call = part.function_call
            if call is not None:
                call.name = no_surrogates(call.name) if call.name else call.name
                call.id = no_surrogates(call.id) if call.id else call.id
                call.args = no_surrogates_in(call.args) if call.args else call.args


def _relayed(partial: LlmResponse) -> bool:
    """Pushed to the turn's token relay (text and thought deltas only); False: yield it."""
    sink = relay.current()
    parts = partial.content.parts if partial.content is not None else None
    if sink is None or not parts or any(p.text is None for p in parts):
        return False
    for p in parts:
        sink.text(p.text or "", bool(p.thought))
    return True

