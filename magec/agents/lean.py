"""ADK's agent, minus the telemetry nobody records.

Why: around every agent run and every model call ADK 2 opens OpenTelemetry scopes — an
``invoke_agent`` scope, a ``call_llm`` span, an inference span whose attributes are built from the
whole request and response, token and duration metrics, each scope re-attached around every step
of the generators it wraps. It does all of it whether or not anything records: with no tracer,
meter or logger provider installed (magec installs none) the spans are non-recording and the
metrics go nowhere. Skipping it took a plain ``/v1`` request from 7.8 to 6.4 ms of server CPU
(c=32), and the first paced token from 7.7 to 6.8 ms added at c=1, on the bench's VM
(docs/benchmarks.md, profile notes of the eleventh session).

Contract of :class:`LeanAgent` (what :func:`magec.agents.build.build_llm_agent` builds): an ADK
``LlmAgent`` that behaves exactly as one — same events, same session, same callbacks (plugin and
agent, before/after agent and model, on model error), same request processors, same LLM-call limit
— and, *while no OpenTelemetry provider is installed* (:func:`telemetry_recorded`), runs its
lifecycle and its model calls without ADK's telemetry scopes. With a provider installed (an
operator who wires OpenTelemetry in front of ``magec serve``) every run takes ADK's own path, and
ADK's spans and metrics are there as usual. The check is made per run and per call, so a provider
installed while serving takes effect from the next turn on.

A model call with an on-model-error callback (plugin or agent), or in live/CFC mode, always takes
ADK's path: those branches do more than telemetry. With no plugin and no agent callback, the
before/after-agent steps are skipped (ADK's would build a callback context to find nothing). The
copies below follow ADK 2.13's ``BaseAgent._run_with_lifecycle`` and ``call_llm_async`` line for
line, minus the scopes; ``tests/runtime/test_lean_agent.py`` holds their events, sessions, model
requests and callbacks equal to ADK's, and ``tests/runtime/test_direct_runner.py`` runs its
scenarios on both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.agents.run_config import StreamingMode
from google.adk.events import Event
from google.adk.flows.llm_flows.auto_flow import AutoFlow
from google.adk.flows.llm_flows.base_llm_flow import BaseLlmFlow
from google.adk.flows.llm_flows.single_flow import SingleFlow
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.utils.context_utils import Aclosing
from google.genai import types
from opentelemetry import metrics, trace
from opentelemetry._logs import NoOpLoggerProvider, get_logger_provider
from opentelemetry._logs._internal import ProxyLoggerProvider
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.metrics._internal import _ProxyMeterProvider

from magec.errors import MagecError

logger = logging.getLogger(__name__)

#: ADK's label on every model request naming the agent (``_model_call.ADK_AGENT_NAME_LABEL_KEY``)
AGENT_NAME_LABEL = "adk_agent_name"

# The API's own providers: what get_*_provider() returns until someone installs a real one.
_QUIET_TRACES = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_QUIET_METRICS = (_ProxyMeterProvider, NoOpMeterProvider)
_QUIET_LOGS = (ProxyLoggerProvider, NoOpLoggerProvider)


def telemetry_recorded() -> bool:
    """Whether an OpenTelemetry tracer, meter or logger provider is installed (ADK's scopes record)."""
    return not (
        isinstance(trace.get_tracer_provider(), _QUIET_TRACES)
        and isinstance(metrics.get_meter_provider(), _QUIET_METRICS)
        and isinstance(get_logger_provider(), _QUIET_LOGS)
    )


class _LeanCall(BaseLlmFlow):
    """A flow whose model call skips ADK's telemetry while nothing records it."""

    async def _call_llm_async(
        self,
        invocation_context: InvocationContext,
        llm_request: LlmRequest,
        model_response_event: Event,
    ) -> AsyncGenerator[LlmResponse, None]:
        agent: Any = invocation_context.agent
        run_config = invocation_context.run_config
        if (
            telemetry_recorded()
            or run_config is None
            or run_config.support_cfc
            or invocation_context.plugin_manager.plugins  # may answer a model error
            or agent.canonical_on_model_error_callbacks
        ):
            async with Aclosing(
                super()._call_llm_async(invocation_context, llm_request, model_response_event)
            ) as adk:
                async for response in adk:
                    yield response
            return
        # ADK's _call_llm_with_tracing, minus its spans
        if instead := await self._handle_before_model_callback(
            invocation_context, llm_request, model_response_event
        ):
            yield instead
            return
        llm_request.config = llm_request.config or types.GenerateContentConfig()
        llm_request.config.labels = llm_request.config.labels or {}
        if AGENT_NAME_LABEL not in llm_request.config.labels:
            llm_request.config.labels[AGENT_NAME_LABEL] = agent.name
        llm = await self._get_llm(invocation_context)
        invocation_context.increment_llm_call_count()
        responses = llm.generate_content_async(
            llm_request, stream=run_config.streaming_mode == StreamingMode.SSE
        )
        # no on-model-error callback (checked above): ADK's error handling re-raises as is
        async with Aclosing(responses) as agen:
            async for llm_response in agen:
                if altered := await self._handle_after_model_callback(
                    invocation_context, llm_response, model_response_event
                ):
                    llm_response = altered
                yield llm_response


class _LeanSingleFlow(_LeanCall, SingleFlow):
    pass


class _LeanAutoFlow(_LeanCall, AutoFlow):
    pass


def mark_failed_agent(err: MagecError, adk_name: str) -> None:
    """Record on ``err`` the ADK name of the agent whose run it ended, unless an agent inside that
    one already did (the innermost is the one that failed). A flow's turn then says which of its
    agents failed (:mod:`magec.runtime.run`): the provider's message names no step."""
    if err.failed_agent is None:
        err.failed_agent = adk_name


class LeanAgent(LlmAgent):
    """ADK's ``LlmAgent`` without ADK's telemetry while nothing records it (see the module docstring)."""

    @property
    def _llm_flow(self) -> BaseLlmFlow:
        # LlmAgent._llm_flow's choice, with the lean flows (a fresh one per run, as ADK makes them)
        if self.disallow_transfer_to_parent and self.disallow_transfer_to_peers and not self.sub_agents:
            return _LeanSingleFlow()
        return _LeanAutoFlow()

    async def _run_with_lifecycle(
        self,
        parent_context: InvocationContext,
        impl_fn: Callable[[InvocationContext], AsyncGenerator[Event, None]],
    ) -> AsyncGenerator[Event, None]:
        if telemetry_recorded():
            try:
                async with Aclosing(super()._run_with_lifecycle(parent_context, impl_fn)) as adk:
                    async for event in adk:
                        yield event
            except MagecError as err:
                mark_failed_agent(err, self.name)
                raise
            return
        # ADK's BaseAgent._run_with_lifecycle, minus record_agent_invocation and stream_in_scope
        ctx = self._create_invocation_context(parent_context)
        # no plugin and no callback: ADK's handling would build a context to find nothing
        plugins = bool(ctx.plugin_manager.plugins)
        before = plugins or bool(self.canonical_before_agent_callbacks)
        after = plugins or bool(self.canonical_after_agent_callbacks)
        before_callback_completed = False
        after_callback_called = False
        try:
            opening = await self._handle_before_agent_callback(ctx) if before else None
            before_callback_completed = True
            if opening:
                yield opening
            if ctx.end_invocation:
                return
            async with Aclosing(impl_fn(ctx)) as agen:
                async for event in agen:
                    yield event
            if ctx.end_invocation:
                return
            after_callback_called = True
            if after and (closing := await self._handle_after_agent_callback(ctx)):
                yield closing
        except asyncio.CancelledError:
            if after and before_callback_completed and not after_callback_called and not ctx.end_invocation:
                try:
                    await self._handle_after_agent_callback(ctx)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception(
                        "after_agent_callback raised on cancellation; the cancellation goes on"
                    )
            raise
        except Exception as e:
            if isinstance(e, MagecError):
                mark_failed_agent(e, self.name)
            await self._handle_agent_error_callback(ctx, e)
            raise
