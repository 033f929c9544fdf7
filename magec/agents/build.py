"""Agent definition → ADK ``LlmAgent`` (a :class:`~magec.agents.lean.LeanAgent`).

Contract of :func:`build_llm_agent`: the agent's chat model comes from its backend's type in
:mod:`magec.backends.registry`; tools and instruction paragraphs from ``deps.toolsets`` (memory,
MCP) plus the caller's extras (flow-state tools); usage is reported after every complete model
response; the context guard trims history before each call, summarising what it cuts with the
agent's own model; ``{{secret:KEY}}`` placeholders in
tool calls are filled and secret values scrubbed (:mod:`magec.agents.secrets`). Anything that prevents the build
raises :class:`~magec.errors.MagecError` with a readable reason (``"LLM backend not found"``, …),
which the runtime shows as the app's invalid status. Flows build their agent steps with the same
function, so an agent behaves the same alone and inside a flow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from google.adk.agents import BaseAgent

from magec import _adk
from magec.agents import callbacks, instructions, request_overrides, secrets
from magec.agents.apps import BuildDeps
from magec.agents.lean import LeanAgent
from magec.backends import parked, registry, relay
from magec.backends.base import BackendSpec
from magec.backends.fallback import FallbackLlm, Link, answered_by
from magec.config_view.snapshot import StoreSnapshot
from magec.errors import MagecError
from magec.resources import Agent

# Done once, when the first agent can be built (this module imported), not per turn.
_adk.short_circuit_missing_a2a()


def adk_name(resource_id: str, suffix: str = "") -> str:
    """ADK agent names must be identifiers; resource ids are UUIDs."""
    base = "a_" + "".join(c if c.isalnum() else "_" for c in resource_id)
    return f"{base}_{suffix}" if suffix else base


def _chat_model(spec: BackendSpec, model_name: str, deps: BuildDeps, what: str) -> Any:
    """The chat model of one (backend, model), behind the backend's breaker."""
    # checked before the type lookup so an empty model is reported first, whatever the type
    if not model_name and registry.defaults(spec.type).requires_model:
        raise MagecError(f"{what} model not configured")
    try:
        backend_type = registry.get(spec.type)
    except MagecError as e:
        raise MagecError(f"{what} backend: {e}") from e
    except ImportError as e:
        raise MagecError(f"{what} backend type {spec.type!r} is not installed: {e}") from e
    model = backend_type.chat(spec, model_name)
    if deps.guard is not None:  # the backend's circuit breaker, shared by every agent on it
        model = deps.guard(model, spec.id, spec.name or spec.id)
    return model


def _with_fallbacks(agent: Agent, spec: BackendSpec, snap: StoreSnapshot, deps: BuildDeps) -> Any:
    """The primary's chat model alone, or a :class:`FallbackLlm` over it and ``llm.fallbacks``.

    A link with another link after it makes one attempt (``max_attempts=1``): failing over at once
    beats retrying a backend that just failed, so a dead primary costs one connect deadline."""
    chain = [f for f in agent.llm.fallbacks if f.backend]
    if not chain:
        return _chat_model(spec, agent.llm.model, deps, "LLM")
    once = lambda s: dataclasses.replace(s, max_attempts=1)  # noqa: E731
    models = [_chat_model(once(spec), agent.llm.model, deps, "LLM")]
    links = [Link(spec.id, spec.name or spec.id, agent.llm.model)]
    for i, fb in enumerate(chain):
        fspec = snap.backend_spec(fb.backend)
        if fspec is None:
            raise MagecError(f"LLM fallback {i + 1}: backend not found")
        last = i == len(chain) - 1
        models.append(_chat_model(fspec if last else once(fspec), fb.model, deps, f"LLM fallback {i + 1}"))
        links.append(Link(fspec.id, fspec.name or fspec.id, fb.model))
    return FallbackLlm(models, links, label=f"agent {agent.name or agent.id}")


def build_llm_agent(
    agent: Agent,
    snap: StoreSnapshot,
    deps: BuildDeps,
    *,
    name: str | None = None,
    extra_tools: list[Any] | None = None,
    extra_paragraphs: list[str] | None = None,
    speakers: Callable[[Any, Any], Any] | None = None,
) -> BaseAgent:
    """The ADK agent for one agent resource; MagecError with a readable reason when it cannot be built.
    An agent with ``a2a.remote`` is ADK's ``RemoteA2aAgent`` instead (:mod:`magec.agents.remote_a2a`)."""
    _adk.load_first_turn_modules()
    if agent.a2a.remote is not None:
        from magec.agents.remote_a2a import build_remote

        return build_remote(agent, name or adk_name(agent.id))
    if not agent.llm.backend:
        raise MagecError("LLM backend not configured")
    spec = snap.backend_spec(agent.llm.backend, agent.llm.headers)
    if spec is None:
        raise MagecError("LLM backend not found")
    model = _with_fallbacks(agent, spec, snap, deps)
    tools: list[Any] = list(extra_tools or [])
    paragraphs: list[str] = []
    for toolset in deps.toolsets:
        more_tools, more_text = toolset(agent, snap)
        tools.extend(more_tools)
        paragraphs.extend(more_text)
    paragraphs.extend(extra_paragraphs or [])
    text = instructions.compose(agent.system_prompt, paragraphs)
    kwargs: dict[str, Any] = {}
    report: Any = None  # a complete model response's usage, to costs and metrics
    if deps.on_usage is not None:
        on_usage = deps.on_usage
        backend_id, model_name = spec.id, agent.llm.model

        def report(llm_response: Any) -> None:
            by = answered_by(llm_response)  # usage is the fallback's when one answered
            bid, mname = (by["backend"], by["model"]) if by else (backend_id, model_name)
            on_usage(agent.id, bid, mname, llm_response.usage_metadata)

        def after_model(callback_context: Any, llm_response: Any) -> None:
            if llm_response.usage_metadata is not None and not llm_response.partial:
                report(llm_response)
            return None

        kwargs["after_model_callback"] = callbacks.cheap(after_model)
    # {{secret:KEY}} in tool calls; values scrubbed (magec.agents.secrets)
    secrets_guard = secrets.AgentSecrets(agent, deps.secrets) if deps.secrets is not None else None
    if agent.context_guard.enabled:
        from magec.agents.context_guard import callback
        from magec.agents.context_summary import Summarizer

        # the agent's own model summarises what the guard cuts; the summary request is masked
        # like every other request of the agent, and its usage counted like theirs
        summarizer = Summarizer(model, report=report,
                                scrub=secrets_guard.before_model if secrets_guard is not None else None)
        kwargs["before_model_callback"] = callback(agent.context_guard, summarizer, key=name or agent.id)
    # per-request client parameters of the OpenAI surface (no-op outside such a request)
    kwargs["before_model_callback"] = request_overrides.chain(kwargs.get("before_model_callback"))
    if speakers is not None:  # first: the context guard's summary then names the agents too
        kwargs["before_model_callback"].insert(0, speakers)
    kwargs["before_model_callback"].append(relay.note_call)  # ids for relayed tokens (backends.relay)
    if secrets_guard is not None:
        kwargs["before_tool_callback"] = secrets_guard.before_tool
        kwargs["after_tool_callback"] = secrets_guard.after_tool
        kwargs["before_model_callback"].append(secrets_guard.before_model)  # sees the final request
    if deps.guard is not None:  # every chat model is then a GuardedLlm, which unparks
        kwargs["before_model_callback"].append(parked.park)  # last: long requests past ADK's telemetry
    kwargs["before_model_callback"] = callbacks.before_model(kwargs["before_model_callback"])
    return LeanAgent(  # ADK's LlmAgent minus the telemetry nobody records (magec.agents.lean)
        name=name or adk_name(agent.id),
        description=agent.name,
        model=model,
        instruction=instructions.provider(text),
        tools=tools,
        output_key=agent.output_key or None,
        **kwargs,
    )
