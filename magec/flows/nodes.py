"""Workflow nodes a compiled flow is made of (ADK 2 graph ``Workflow`` building blocks).

* :class:`AgentStep` runs one LlmAgent on the *shared conversation*. ADK's own LlmAgent graph node
  (``single_turn`` mode) only sees its node input, and ``chat`` mode may only follow ``START``;
  Magec's semantics are "later agents see the accumulated conversation", so the step runs the agent
  like a classic sub-agent (full session history, filtered by branch: parallel siblings do not see
  each other, the steps after a parallel see all of them). It produces no node output, so nothing
  but the agent's own events is recorded and the next step starts from the conversation only.

  Visibility follows ADK branches: a parallel child runs on a sub-branch and sees only events of
  its own branch and its ancestors. Known limit of that rule: for a parallel nested *inside a child
  of another parallel*, the steps after the inner parallel (still inside the outer child) do not
  see the inner children's messages in their history; there, pass data with ``outputKey`` +
  ``{{agent.output:KEY}}`` or ``set_state``. Everywhere else (top-level parallels, parallels in
  top-level sequences and loops) the later steps see everything. Loops emit one content-less event
  per iteration boundary (author = the loop, ``actions.route`` = ``again``/``done``).
* :class:`Join` waits for every predecessor (the end of a parallel fan-out) and emits nothing.
* :class:`Passthrough` does nothing (the exit of a loop graph).
* :class:`LoopCheck` is the iteration boundary of a loop: it emits route ``"again"`` or ``"done"``.
  Its run id is the iteration number: ADK numbers the runs of a node 1, 2, ... within one execution
  of the enclosing ``Workflow`` (a fresh count each time a nested loop is entered again).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Literal

from google.adk.agents import BaseAgent
from google.adk.agents.context import Context
from google.adk.workflow import BaseNode

from magec.flows import cel
from magec.flows.state import exit_key, flow_state

AGAIN = "again"
DONE = "done"


class AgentStep(BaseNode):
    """One appearance of an agent in a flow (its LlmAgent has a flow-unique name; a remote A2A
    agent, :mod:`magec.agents.remote_a2a`, runs the same way)."""

    agent: BaseAgent

    async def _run_impl(self, *, ctx: Context, node_input: Any) -> AsyncGenerator[Any, None]:
        async for event in self.agent.run_async(ctx.get_invocation_context()):
            if event.author:
                ctx.event_author = event.author  # keep the agent as author (not the workflow)
            if not event.node_info.path and event.author == self.agent.name:
                event.node_info.path = ctx.node_path
            yield event


class Passthrough(BaseNode):
    """A no-op node (no output, no events)."""

    async def _run_impl(self, *, ctx: Context, node_input: Any) -> AsyncGenerator[Any, None]:
        return
        yield  # pragma: no cover - makes this an async generator


class Join(Passthrough):
    """Fires once all predecessors completed (the end of a parallel step)."""

    @property
    def _requires_all_predecessors(self) -> bool:
        return True


class LoopCheck(BaseNode):
    """End of one loop iteration: route ``again`` or ``done`` (limit, exit_loop, CEL expression)."""

    loop_name: str
    max_iterations: int
    exit_mode: Literal["none", "agent", "expression"] = "none"
    expression: str = ""

    def should_stop(self, iteration: int, state: Any) -> bool:
        if self.exit_mode == "agent":
            key = exit_key(self.loop_name)
            requested = bool(state.get(key))
            if requested:
                state[key] = None  # consumed: a re-entered loop starts without it
                return True
        elif self.exit_mode == "expression" and cel.evaluate(self.expression, flow_state(state)):
            return True
        return iteration >= self.max_iterations

    async def _run_impl(self, *, ctx: Context, node_input: Any) -> AsyncGenerator[Any, None]:
        iteration = int(ctx.run_id) if ctx.run_id.isdigit() else self.max_iterations
        ctx.route = DONE if self.should_stop(iteration, ctx.state) else AGAIN
        return
        yield  # pragma: no cover
