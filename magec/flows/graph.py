"""Compile a graph flow (Magec G2 ``{entry, nodes[], edges[]}``) into an ADK 2 graph ``Workflow``.

Mapping: ``START -> entry`` plus one ADK node per flow node (:mod:`magec.flows.graph_nodes`) and
one ADK edge per flow edge (``route`` kept: routed edges out of routers are what ADK requires of
every cycle, so back-edges through a router are the graph's loops). A ``subflow`` node is the
other flow compiled the same way (a graph, or a tree through :mod:`magec.flows.compile`) and
nested as a ``Workflow`` node; a flow met again on the way down is a cycle (FlowBuildError; the
save-time rules already reject it).

Names: an ADK node name is the node id made an identifier (``-`` -> ``_``, deduplicated); the
LlmAgent of an ``agent``/``parallel`` node has the same name (prefixed by the subflow node's name
inside subflows), so the event author names the node and ``authors`` maps it back to the agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.adk.workflow import START, BaseNode, Edge, Workflow

from magec._adk import EdgeItem
from magec.agents.apps import BuildDeps
from magec.agents.build import build_llm_agent
from magec.agents.instructions import FLOW_STATE_INSTRUCTION
from magec.config_view.snapshot import StoreSnapshot
from magec.errors import MagecError
from magec.flows import graph_nodes as gn
from magec.flows.graph_rules import validate_graph
from magec.flows.sandbox import limits
from magec.flows.speakers import speakers
from magec.flows.state import flow_tools
from magec.resources.models import Flow, FlowNode

if TYPE_CHECKING:
    from magec.flows.compile import CompiledFlow

#: node types whose output is data an agent cannot see in the conversation (so it is given to it)
_DATA = {"expression", "template", "code", "parallel", "subflow"}


def _identifier(node_id: str, taken: set[str]) -> str:
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in node_id)
    if base in ("user", "__START__") or not base.isidentifier():
        base = f"n_{base}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


class GraphCompiler:
    """Compiles one top-level flow; ``authors`` collects every agent node, nested ones included."""

    def __init__(self, snap: StoreSnapshot, deps: BuildDeps) -> None:
        self.snap = snap
        self.deps = deps
        self.authors: dict[str, tuple[str, str, bool]] = {}
        self._speakers = speakers(self.authors)  # filled as the flow compiles, read as it runs

    def compile(self, flow: Flow, *, name: str = "flow", prefix: str = "", nested: bool = False,
                stack: tuple[str, ...] = ()) -> Workflow:
        from magec.flows.compile import FlowBuildError

        try:
            validate_graph(flow)
        except MagecError as err:
            raise FlowBuildError(str(err)) from err
        taken: set[str] = set()
        names = {n.id: _identifier(n.id, taken) for n in flow.nodes}
        succ: dict[str, list[str]] = {n.id: [] for n in flow.nodes}
        preds: dict[str, list[str]] = {n.id: [] for n in flow.nodes}
        for edge in flow.edges:
            succ[edge.from_].append(edge.to)
            preds[edge.to].append(edge.from_)
        types_: dict[str, str] = {n.id: n.type for n in flow.nodes}
        built: dict[str, BaseNode] = {}
        for i, node in enumerate(flow.nodes):
            emit = nested or bool(succ[node.id])
            feeds_data = _fed_by_data(node.id, preds, types_, set())
            built[node.id] = self._node(node, i, names[node.id], prefix, emit, feeds_data, names,
                                        (*stack, flow.id))
        edges: list[EdgeItem] = [Edge(from_node=START, to_node=built[flow.entry])]
        for edge in flow.edges:
            if edge.route:
                edges.append(Edge(from_node=built[edge.from_], to_node=built[edge.to], route=edge.route))
            else:
                edges.append(Edge(from_node=built[edge.from_], to_node=built[edge.to]))
        try:
            return Workflow(name=name, edges=edges)
        except Exception as err:  # noqa: BLE001 - ADK's graph validation errors, reported as the flow's reason
            raise FlowBuildError(f"edges: {str(err).splitlines()[0]}") from err

    def _agent(self, node: FlowNode, at: str, name: str, response: bool) -> Any:
        from magec.flows.compile import FlowBuildError

        agent = self.snap.agents.get(node.agent_id)
        if agent is None:
            raise FlowBuildError(f"{at}.agentId: agent {node.agent_id!r} not found")
        if agent.a2a.remote is not None:  # graph nodes inject their input into the agent's prompt
            raise FlowBuildError(f"{at}: agent {agent.name!r}: remote A2A agents are steps of tree flows only")
        try:
            llm = build_llm_agent(agent, self.snap, self.deps, name=name, extra_tools=flow_tools(None),
                                  extra_paragraphs=[FLOW_STATE_INSTRUCTION], speakers=self._speakers)
        except MagecError as e:
            raise FlowBuildError(f"{at}: agent {agent.name!r}: {e}") from e
        self.authors[name] = (agent.id, agent.name, response)
        return llm

    def _node(self, node: FlowNode, i: int, local: str, prefix: str, emit: bool, feeds_data: bool,
              names: dict[str, str], stack: tuple[str, ...]) -> BaseNode:
        from magec.flows.compile import FlowBuildError, tree_workflow

        at = f"nodes[{i}]"
        common: dict[str, Any] = {"name": local, "node_id": node.id, "emit": emit}
        settings = self.snap.settings.flows
        if node.type == "agent":
            llm = self._agent(node, at, prefix + local, node.response_agent)
            return gn.GraphAgent(agent=llm, inject_input=feeds_data, **common)
        if node.type == "parallel":
            llm = self._agent(node, at, prefix + local, node.response_agent)
            return gn.MapAgent(agent=llm, max_concurrency=node.max_concurrency, output_key=node.output_key,
                               **common)
        if node.type == "router":
            return gn.Router(rules=[(r.when, r.route) for r in node.rules], cap=settings.max_router_activations,
                             **common)
        if node.type == "join":
            return gn.GraphJoin(ids={v: k for k, v in names.items()}, **common)
        if node.type == "expression":
            return gn.Expression(expression=node.expression, output_key=node.output_key, **common)
        if node.type == "template":
            return gn.Template(template=node.template, output_key=node.output_key, **common)
        if node.type == "code":
            lim = limits(node.timeout_ms, node.max_output_bytes, settings.execution_timeout_ms,
                         settings.max_output_bytes)
            return gn.Code(script=node.script, limits=lim, disabled=tuple(settings.disabled_libraries),
                           output_key=node.output_key, **common)
        # subflow
        other = self.snap.flows.get(node.flow_id)
        if other is None:
            raise FlowBuildError(f"{at}.flowId: flow {node.flow_id!r} not found")
        if other.id in stack:
            raise FlowBuildError(f"{at}.flowId: subflows form a cycle ({' -> '.join([*stack, other.id])})")
        inner_prefix = f"{prefix}{local}__"
        if other.root is None:
            return self.compile(other, name=local, prefix=inner_prefix, nested=True, stack=stack)
        compiled = tree_workflow(other, self.snap, self.deps, prefix=inner_prefix, authors=self.authors)
        return Workflow(name=local, edges=[(START, compiled.root)])


def _fed_by_data(node_id: str, preds: dict[str, list[str]], types_: dict[str, str], seen: set[str]) -> bool:
    """Whether a data node's output reaches ``node_id`` (through routers and joins)."""
    for p in preds[node_id]:
        if p in seen:
            continue
        seen.add(p)
        if types_[p] in _DATA:
            return True
        if types_[p] in ("router", "join") and _fed_by_data(p, preds, types_, seen):
            return True
    return False


def compile_graph(flow: Flow, snap: StoreSnapshot, deps: BuildDeps) -> CompiledFlow:
    from magec.flows.compile import CompiledFlow

    compiler = GraphCompiler(snap, deps)
    root = compiler.compile(flow)
    return CompiledFlow(root=root, authors=compiler.authors)
