"""The ADK 2 workflow nodes a *graph* flow (Magec G2) compiles to, one class per node type.

Data passing: every node gets its predecessor's output as ``node_input`` (a join gets a dict
``{predecessor node id: output}``; the entry node gets the user's message) and yields its own
output, except the terminal nodes of a top-level flow (``emit=False``: ADK allows one terminal
output per workflow and a fan-out may end in several; nothing reads the top level's output).
Outputs are JSON values; the user's message (``types.Content``) is seen as its text.

* :class:`GraphAgent` — runs the agent on the shared conversation (it sees the user's message and
  every earlier agent of its branch, like tree flows); when its input comes from a data node
  (expression, template, code, parallel, subflow) that input is added to its instruction. Output:
  the agent's final text.
* :class:`Router` — passes its input through and routes by the first rule whose ``when`` is true
  (``otherwise`` when none); CEL sees ``state`` (flow state, ``__`` keys hidden), ``iterations``
  (how many times this router fired earlier in this run, 0 the first time) and ``input``. More
  than :data:`ROUTER_CAP` activations in one run end the turn with ``flow_runaway``.
* :class:`GraphJoin` — fires once every predecessor completed; output ``{node id: output}``.
* :class:`MapAgent` — the ``parallel`` node: runs its agent once per item of a list input (a JSON
  string is parsed), at most ``maxConcurrency`` at once (0 = all), each on its own branch with the
  item in its instruction; output: the agents' texts in item order.
* :class:`Expression`, :class:`Template`, :class:`Code` — compute a value; ``outputKey`` also
  writes it to flow state (``flow:<key>``). Code runs in :mod:`magec.flows.sandbox`.

Errors raised here are :class:`~magec.errors.FlowNodeError` (or a subclass) naming the node; the
runtime ends the turn with one error event carrying its code.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Callable
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.agents.context import Context
from google.adk.workflow import BaseNode
from google.genai import types
from pydantic import ConfigDict

from magec.errors import FlowNodeError, FlowRunawayError, MagecError, ValidationError
from magec.flows import cel
from magec.flows.sandbox import Limits, run_script
from magec.flows.state import flow_state, state_key
from magec.jsontext import decode

ROUTER_CAP = 1000
_COUNT_PREFIX = "temp:magec_router:"
_TEMPLATE = re.compile(r"\{\{\s*(input|state)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")


def plain(value: Any) -> Any:
    """A node input as JSON values: the user's message as its text, pydantic models dumped."""
    if isinstance(value, types.Content):
        return "".join(p.text or "" for p in value.parts or [])
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    return value


def visible_state(state: Any) -> dict[str, Any]:
    """Flow state as routers, expressions, templates and code see it (internal ``__`` keys hidden)."""
    return {k: v for k, v in flow_state(state).items() if not k.startswith("__")}


def as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


class _Node(BaseNode):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    #: the Magec node id (the ADK name is this id made an identifier)
    node_id: str = ""
    #: yield the output (False for the terminal nodes of a top-level flow)
    emit: bool = True
    output_key: str = ""

    def _author(self, ctx: Context) -> None:
        """Events of this node (its output, a router's route) name the node, as in Magec."""
        ctx.event_author = self.node_id

    def _fail(self, message: str, cls: type[FlowNodeError] = FlowNodeError) -> FlowNodeError:
        return cls(f"node {self.node_id!r}: {message}")

    def _store(self, ctx: Context, value: Any) -> Any:
        if self.output_key:
            ctx.state[state_key(self.output_key)] = value
        return value if self.emit else None


def _with_input(agent: LlmAgent, heading: str, value: Any) -> LlmAgent:
    base = agent.instruction

    def instruction(ctx: Any) -> str:
        text = base(ctx) if callable(base) else str(base)
        return f"{text}\n\n{heading}\n{as_text(value)}"

    return agent.model_copy(update={"instruction": instruction})


async def _run_agent(agent: LlmAgent, ctx: Context, ic: Any, path: str) -> AsyncGenerator[Any, None]:
    async for event in agent.run_async(ic):
        if event.author:
            ctx.event_author = event.author  # keep the agent as author (not the workflow)
        if not event.node_info.path and event.author == agent.name:
            event.node_info.path = path
        yield event


def _final_text(event: Any, agent: LlmAgent, last: str) -> str:
    if event.author != agent.name or event.partial or event.content is None:
        return last
    text = "".join(p.text or "" for p in event.content.parts or [] if not p.thought)
    return text or last


class GraphAgent(_Node):
    agent: LlmAgent
    inject_input: bool = False

    async def _run_impl(self, *, ctx: Context, node_input: Any) -> AsyncGenerator[Any, None]:
        agent = self.agent
        value = plain(node_input)
        if self.inject_input and value not in (None, ""):
            agent = _with_input(agent, "Input from the previous step of the flow:", value)
        last = ""
        async for event in _run_agent(agent, ctx, ctx.get_invocation_context(), ctx.node_path):
            last = _final_text(event, agent, last)
            yield event
        if self.emit:
            yield last


class Router(_Node):
    rules: list[tuple[str, str]]
    cap: int = ROUTER_CAP

    async def _run_impl(self, *, ctx: Context, node_input: Any) -> AsyncGenerator[Any, None]:
        self._author(ctx)
        key = _COUNT_PREFIX + (ctx.node_path.rsplit("@", 1)[0] or self.name)
        fired = int(ctx.state.get(key) or 0)
        if fired >= self.cap:
            raise self._fail(f"router fired {self.cap} times in one run (runaway loop?)", FlowRunawayError)
        ctx.state[key] = fired + 1
        values = {"state": visible_state(ctx.state), "iterations": fired, "input": plain(node_input)}
        route = next((label for when, label in self.rules if cel.evaluate_rule(when, values)), "otherwise")
        ctx.route = route
        if node_input is not None:
            yield node_input


class GraphJoin(_Node):
    #: ADK node name -> Magec node id (the output is keyed by node id)
    ids: dict[str, str] = {}

    @property
    def _requires_all_predecessors(self) -> bool:
        return True

    async def _run_impl(self, *, ctx: Context, node_input: Any) -> AsyncGenerator[Any, None]:
        self._author(ctx)
        merged = {self.ids.get(k, k): plain(v) for k, v in (node_input or {}).items()} \
            if isinstance(node_input, dict) else plain(node_input)
        if self.emit:
            yield merged


#: items a ``parallel`` node maps in one run (one model call each)
MAX_MAP_ITEMS = 100


class MapAgent(_Node):
    agent: LlmAgent
    max_concurrency: int = 0

    def _items(self, node_input: Any) -> list[Any]:
        value = plain(node_input)
        if isinstance(value, str):  # a model's answer: NaN or deep nesting is no list either
            try:
                value = decode(value, "input")
            except ValidationError:
                raise self._fail("input must be a list (a JSON array)") from None
        if not isinstance(value, list):
            raise self._fail(f"input must be a list, got {type(value).__name__}")
        if len(value) > MAX_MAP_ITEMS:
            # the list is often a model's answer (or a client's words in it): each item is a model
            # call, all at once without maxConcurrency, so its length is not the list's to decide
            raise self._fail(f"input has {len(value)} items; a parallel node runs at most {MAX_MAP_ITEMS}")
        return value

    async def _run_impl(self, *, ctx: Context, node_input: Any) -> AsyncGenerator[Any, None]:
        items = self._items(node_input)
        ic = ctx.get_invocation_context()
        limit = asyncio.Semaphore(self.max_concurrency or max(1, len(items)))
        queue: asyncio.Queue[Any] = asyncio.Queue()
        outputs: list[str] = [""] * len(items)
        done = object()

        async def one(i: int, item: Any) -> None:
            async with limit:
                agent = _with_input(self.agent, f"Item {i + 1} of {len(items)} to process:", item)
                branch = f"{ic.branch}.{self.name}_{i}" if ic.branch else f"{self.name}_{i}"
                sub = ic.model_copy(update={"branch": branch})
                last = ""
                async for event in _run_agent(agent, ctx, sub, ctx.node_path):
                    last = _final_text(event, agent, last)
                    await queue.put(event)
                outputs[i] = last

        async def all_items() -> None:
            try:
                await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
            finally:
                await queue.put(done)

        task = asyncio.create_task(all_items())
        try:
            while (event := await queue.get()) is not done:
                yield event
            await task
        finally:
            if not task.done():
                task.cancel()
        result = self._store(ctx, outputs)
        if result is not None:
            yield result


class Expression(_Node):
    expression: str

    async def _run_impl(self, *, ctx: Context, node_input: Any) -> AsyncGenerator[Any, None]:
        self._author(ctx)
        try:
            value = cel.evaluate_value(self.expression, {"input": plain(node_input), "state": visible_state(ctx.state)})
        except ValueError as e:
            raise self._fail(f"expression failed: {e}") from None
        result = self._store(ctx, value)
        if result is not None:
            yield result


def render(template: str, node_input: Any, state: dict[str, Any]) -> str:
    """``{{ input }}``, ``{{ input.a.b }}``, ``{{ state.key }}``; missing values render empty."""
    roots = {"input": node_input, "state": state}

    def sub(m: re.Match[str]) -> str:
        value: Any = roots[m.group(1)]
        for part in filter(None, m.group(2).split(".")):
            if isinstance(value, str):
                try:
                    value = decode(value, "input")
                except ValidationError:
                    return ""
            value = value.get(part) if isinstance(value, dict) else None
        return as_text(value)

    return _TEMPLATE.sub(sub, template)


class Template(_Node):
    template: str

    async def _run_impl(self, *, ctx: Context, node_input: Any) -> AsyncGenerator[Any, None]:
        self._author(ctx)
        result = self._store(ctx, render(self.template, plain(node_input), visible_state(ctx.state)))
        if result is not None:
            yield result


class Code(_Node):
    script: str
    limits: Limits
    disabled: tuple[str, ...] = ()
    runner: Callable[..., Any] = run_script

    async def _run_impl(self, *, ctx: Context, node_input: Any) -> AsyncGenerator[Any, None]:
        self._author(ctx)
        try:
            value = await self.runner(self.script, plain(node_input), visible_state(ctx.state), self.limits,
                                      self.disabled)
        except FlowNodeError as e:
            raise type(e)(f"node {self.node_id!r}: {e}") from None
        except MagecError:
            raise
        result = self._store(ctx, value)
        if result is not None:
            yield result
