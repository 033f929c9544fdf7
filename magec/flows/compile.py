"""Compile a flow tree (``Flow.root``) into an ADK 2 graph ``Workflow`` (graph flows: :mod:`magec.flows.graph`).

Mapping (each container is a nested ``Workflow`` node, so the tree maps 1:1 onto graphs)::

    agent       -> AgentStep (a fresh LlmAgent named "<agent adk name>_<n>", n = appearance)
    sequential  -> Workflow(START -> c1 -> c2 -> ... -> cn)
    parallel    -> Workflow(START -> c1 | ... | cn -> Join)        children run concurrently
    loop        -> Workflow(START -> body -> check; check -"again"-> body; check -"done"-> end)

Loops are expressed in the graph itself: the cycle closes with a *routed* edge from the
:class:`~magec.flows.nodes.LoopCheck` node, which ADK requires of every cycle; no deprecated
``LoopAgent`` is involved. The check runs after every full iteration, so ``exit_loop`` and CEL
expressions fire only at the iteration boundary and ``maxIterations`` always caps the loop.

Tools: every agent appearance gets ``set_state``/``get_state`` plus the flow-state instruction
paragraph; ``exit_loop`` is added when the appearance sits (however deep) inside a loop whose exit
mode is "agent decides", bound to the *nearest* such loop.

Errors: :class:`FlowBuildError` whose message starts with the step path, e.g.
``root.steps[1]: agent 'Critic': LLM backend not configured``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from google.adk.workflow import START, BaseNode, Edge, Workflow

from magec._adk import EdgeItem
from magec.agents.apps import BuildDeps
from magec.agents.build import adk_name, build_llm_agent
from magec.agents.instructions import FLOW_STATE_INSTRUCTION
from magec.config_view.snapshot import StoreSnapshot
from magec.errors import MagecError
from magec.flows.nodes import AGAIN, DONE, AgentStep, Join, LoopCheck, Passthrough
from magec.flows.rules import validate_step
from magec.flows.speakers import speakers
from magec.flows.state import FLOW_EXIT_INSTRUCTION, flow_tools
from magec.resources.models import Flow, FlowStep


class FlowBuildError(MagecError):
    """A flow cannot be built; the message names the offending step path."""


@dataclass
class CompiledFlow:
    root: BaseNode
    #: ADK author name -> (agent id, agent name, response agent?)
    authors: dict[str, tuple[str, str, bool]] = field(default_factory=dict)


class _Compiler:
    def __init__(self, snap: StoreSnapshot, deps: BuildDeps, prefix: str = "",
                 authors: dict[str, tuple[str, str, bool]] | None = None) -> None:
        self.snap = snap
        self.deps = deps
        self.prefix = prefix
        #: shared with an enclosing graph flow's (a subflow's agents see the outer ones by name too)
        self.authors: dict[str, tuple[str, str, bool]] = authors if authors is not None else {}
        self._speakers = speakers(self.authors)  # filled as the flow compiles, read as it runs
        self._appearances: Counter[str] = Counter()
        self._containers: Counter[str] = Counter()

    def _container_name(self, kind: str) -> str:
        self._containers[kind] += 1
        return f"{kind}_{self._containers[kind]}"

    def compile(self, step: FlowStep, path: str, exit_loop_of: str | None) -> BaseNode:
        if step.type == "agent":
            return self._agent(step, path, exit_loop_of)
        if step.type == "loop":
            return self._loop(step, path, exit_loop_of)
        name = self._container_name(step.type)
        children = [self.compile(c, f"{path}.steps[{i}]", exit_loop_of) for i, c in enumerate(step.steps)]
        if step.type == "sequential":
            return _sequence(name, children)
        join = Join(name=f"{name}_join")
        edges: list[EdgeItem] = [Edge(from_node=START, to_node=c) for c in children]
        edges += [Edge(from_node=c, to_node=join) for c in children]
        return Workflow(name=name, edges=edges)

    def _agent(self, step: FlowStep, path: str, exit_loop_of: str | None) -> AgentStep:
        agent = self.snap.agents.get(step.agent_id)
        if agent is None:
            raise FlowBuildError(f"{path}.agentId: agent {step.agent_id!r} not found")
        self._appearances[agent.id] += 1
        name = f"{self.prefix}{adk_name(agent.id)}_{self._appearances[agent.id]}"
        paragraphs = [FLOW_STATE_INSTRUCTION] + ([FLOW_EXIT_INSTRUCTION] if exit_loop_of else [])
        try:
            llm_agent = build_llm_agent(agent, self.snap, self.deps, name=name, extra_tools=flow_tools(exit_loop_of),
                                        extra_paragraphs=paragraphs, speakers=self._speakers)
        except MagecError as e:
            raise FlowBuildError(f"{path}: agent {agent.name!r}: {e}") from e
        self.authors[name] = (agent.id, agent.name, step.response_agent)
        return AgentStep(name=name, agent=llm_agent)

    def _loop(self, step: FlowStep, path: str, exit_loop_of: str | None) -> Workflow:
        name = self._container_name("loop")
        inner_exit = name if step.exit.mode == "agent" else exit_loop_of
        children = [self.compile(c, f"{path}.steps[{i}]", inner_exit) for i, c in enumerate(step.steps)]
        body = children[0] if len(children) == 1 else _sequence(f"{name}_body", children)
        check = LoopCheck(name=f"{name}_check", loop_name=name, max_iterations=step.max_iterations,
                          exit_mode=step.exit.mode, expression=step.exit.expression)
        end = Passthrough(name=f"{name}_end")
        return Workflow(name=name, edges=[
            Edge(from_node=START, to_node=body),
            Edge(from_node=body, to_node=check),
            Edge(from_node=check, to_node=body, route=AGAIN),
            Edge(from_node=check, to_node=end, route=DONE),
        ])


def _sequence(name: str, children: list[BaseNode]) -> Workflow:
    return Workflow(name=name, edges=[(START, *children)])


def tree_workflow(flow: Flow, snap: StoreSnapshot, deps: BuildDeps, prefix: str = "",
                  authors: dict[str, tuple[str, str, bool]] | None = None) -> CompiledFlow:
    """A tree flow's ``Workflow``; ``prefix`` keeps agent names unique when it is a subflow, whose
    agents go into the enclosing flow's ``authors``."""
    assert flow.root is not None
    try:
        validate_step(flow.root, "root")
    except MagecError as e:
        raise FlowBuildError(str(e)) from e
    compiler = _Compiler(snap, deps, prefix, authors)
    node = compiler.compile(flow.root, "root", None)
    if not isinstance(node, Workflow):
        node = _sequence("flow", [node])
    return CompiledFlow(root=node, authors=compiler.authors)


def compile_flow(flow: Flow, snap: StoreSnapshot, deps: BuildDeps) -> CompiledFlow:
    """The flow's root node (always a ``Workflow``) and its author map; FlowBuildError if invalid.
    Tree flows compile here, graph flows in :mod:`magec.flows.graph`: one entry point for both."""
    if flow.root is None:
        from magec.flows.graph import compile_graph

        return compile_graph(flow, snap, deps)
    return tree_workflow(flow, snap, deps)
