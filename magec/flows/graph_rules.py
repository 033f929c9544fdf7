"""Save-time rules of graph flows (Magec G2 ``{entry, nodes[], edges[]}``).

Every rule raises :class:`~magec.errors.ValidationError` naming the field (``nodes[2].rules[0].when``,
``edges[3].to``, ``entry``, ...). :func:`validate_graph` is also what the compiler checks before
building, so a graph that saved always compiles structurally. The rules, in order (Magec's):

1. at least one node; ids unique, well-formed (``^[A-Za-z_][A-Za-z0-9_-]*$``), never ``START``;
2. per type: ``agent``/``parallel`` need ``agentId``; ``subflow`` needs ``flowId``; ``router``
   needs >= 1 rule, each ``when`` a boolean CEL expression and each ``route`` a well-formed
   label; ``expression`` compiles as CEL; ``template`` is non-empty; ``code`` parses as Starlark;
3. edges name existing nodes (never ``START``); ``route`` only on edges leaving a router, and
   every router edge is routed with a label the router can emit (its rules' routes +
   ``otherwise``); every emittable label has exactly one edge; no routed edge into a join;
4. ``entry`` exists; every node is reachable from it; at least one terminal node (no outgoing
   edge); every cycle passes through a router (ADK requires routed back-edges; an unrouted
   cycle would never end);
5. subflows: a flow may not contain itself, directly or through other flows (:func:`subflow_order`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from magec.errors import ValidationError
from magec.flows.cel import check_compiles
from magec.flows.sandbox import check_script
from magec.resources.models import NODE_ID, Flow, FlowNode

OTHERWISE = "otherwise"
LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_PROBE = {"state": {}, "iterations": 0, "input": ""}


def _fail(field: str, message: str) -> None:
    raise ValidationError(f"{field}: {message}", field=field)


def emittable(node: FlowNode) -> list[str]:
    """The route labels a router can emit, in rule order, then ``otherwise``."""
    return list(dict.fromkeys([r.route for r in node.rules] + [OTHERWISE]))


def _node(node: FlowNode, i: int) -> None:
    at = f"nodes[{i}]"
    if node.type in ("agent", "parallel") and not node.agent_id:
        _fail(f"{at}.agentId", f"is required for {node.type} nodes")
    if node.type == "subflow" and not node.flow_id:
        _fail(f"{at}.flowId", "is required for subflow nodes")
    if node.type == "router":
        if not node.rules:
            _fail(f"{at}.rules", "a router needs at least one rule")
        for j, rule in enumerate(node.rules):
            check_compiles(rule.when, f"{at}.rules[{j}].when", boolean=True, probe=_PROBE)
            if not LABEL.match(rule.route):
                _fail(f"{at}.rules[{j}].route", "a route label is required (letters, digits, _ and -)")
    if node.type == "expression":
        check_compiles(node.expression, f"{at}.expression")
    if node.type == "template" and not node.template.strip():
        _fail(f"{at}.template", "is required for template nodes")
    if node.type == "code":
        if not node.script.strip():
            _fail(f"{at}.script", "is required for code nodes")
        check_script(node.script, f"{at}.script")


def _cycle_without_router(nodes: dict[str, FlowNode], succ: dict[str, list[str]]) -> str | None:
    """A node on a cycle that no router breaks (edges out of routers removed), or None."""
    color: dict[str, int] = {}
    for start in nodes:
        if start in color:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        color[start] = 1
        while stack:
            name, idx = stack[-1]
            nxt = [] if nodes[name].type == "router" else succ[name]
            if idx < len(nxt):
                stack[-1] = (name, idx + 1)
                child = nxt[idx]
                if color.get(child) == 1:
                    return child
                if child not in color:
                    color[child] = 1
                    stack.append((child, 0))
            else:
                color[name] = 2
                stack.pop()
    return None


def validate_graph(flow: Flow) -> None:
    """Structural checks of a graph flow (see the module contract, rules 1-4)."""
    if not flow.nodes:
        _fail("nodes", "a graph flow needs at least one node")
    by_id: dict[str, FlowNode] = {}
    for i, node in enumerate(flow.nodes):
        if not NODE_ID.match(node.id) or node.id == "START":
            _fail(f"nodes[{i}].id", f"{node.id!r} is not a valid node id (^[A-Za-z_][A-Za-z0-9_-]*$, not START)")
        if node.id in by_id:
            _fail(f"nodes[{i}].id", f"duplicate node id {node.id!r}")
        by_id[node.id] = node
        _node(node, i)
    succ: dict[str, list[str]] = {n: [] for n in by_id}
    preds: dict[str, list[str]] = {n: [] for n in by_id}
    labels: dict[str, dict[str, int]] = {n.id: {} for n in flow.nodes if n.type == "router"}
    seen_edges: set[tuple[str, str, str]] = set()
    for i, edge in enumerate(flow.edges):
        for end, value in (("from", edge.from_), ("to", edge.to)):
            if value not in by_id:
                _fail(f"edges[{i}].{end}", f"node {value!r} not found")
        source, target = by_id[edge.from_], by_id[edge.to]
        if source.type == "router":
            if not edge.route:
                _fail(f"edges[{i}].route", f"edges leaving router {source.id!r} need a route label")
            if edge.route not in emittable(source):
                _fail(f"edges[{i}].route",
                      f"router {source.id!r} never emits {edge.route!r} (it emits {', '.join(emittable(source))})")
            labels[source.id][edge.route] = labels[source.id].get(edge.route, 0) + 1
            if target.type == "join":
                _fail(f"edges[{i}].to", f"a routed edge may not enter join {target.id!r} (it would wait forever)")
        elif edge.route:
            _fail(f"edges[{i}].route", f"route labels are only allowed on edges leaving a router ({source.id!r} "
                                       f"is a {source.type} node)")
        if (edge.from_, edge.to, edge.route) in seen_edges:
            _fail(f"edges[{i}]", f"duplicate edge {edge.from_!r} -> {edge.to!r}")
        seen_edges.add((edge.from_, edge.to, edge.route))
        succ[edge.from_].append(edge.to)
        preds[edge.to].append(edge.from_)
    for i, node in enumerate(flow.nodes):
        if node.type != "router":
            continue
        for label in emittable(node):
            count = labels[node.id].get(label, 0)
            if count != 1:
                _fail(f"nodes[{i}].rules", f"router {node.id!r}: route {label!r} needs exactly one outgoing edge "
                                           f"(has {count})")
    if not flow.entry:
        _fail("entry", "is required (the id of the first node)")
    if flow.entry not in by_id:
        _fail("entry", f"node {flow.entry!r} not found")
    seen = {flow.entry}
    queue = [flow.entry]
    while queue:
        for child in succ[queue.pop()]:
            if child not in seen:
                seen.add(child)
                queue.append(child)
    for i, node in enumerate(flow.nodes):
        if node.id not in seen:
            _fail(f"nodes[{i}]", f"is not reachable from the entry node {flow.entry!r}")
    if not any(not succ[n] for n in by_id):
        _fail("edges", "the graph needs at least one terminal node (a node with no outgoing edge)")
    looped = _cycle_without_router(by_id, succ)
    if looped is not None:
        _fail("edges", f"the cycle through {looped!r} has no router: loops need a router back-edge")


def subflow_order(flows: Mapping[str, Mapping[str, Any]], start: str) -> list[str]:
    """Flow ids ``start`` embeds (transitively), dependencies first; ValueError naming the cycle."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(fid: str, path: list[str]) -> None:
        if state.get(fid) == 2:
            return
        if state.get(fid) == 1:
            raise ValueError(" -> ".join([*path[path.index(fid):], fid]))
        state[fid] = 1
        for node in (flows.get(fid) or {}).get("nodes") or []:
            if isinstance(node, dict) and node.get("type") == "subflow" and node.get("flowId"):
                visit(str(node["flowId"]), [*path, fid])
        state[fid] = 2
        order.append(fid)

    visit(start, [])
    return order[:-1]


def check_subflows(flow: Flow, flow_id: str, all_flows: Mapping[str, Mapping[str, Any]]) -> None:
    """Rule 5: with this flow saved as ``flow_id``, no flow reaches itself through subflows."""
    flows = {**all_flows, flow_id: flow.dump()}
    for i, node in enumerate(flow.nodes):
        if node.type != "subflow" or not node.flow_id:
            continue
        if node.flow_id == flow_id:
            _fail(f"nodes[{i}].flowId", "a flow cannot embed itself")
        try:
            subflow_order(flows, flow_id)
        except ValueError as e:
            _fail(f"nodes[{i}].flowId", f"subflows form a cycle: {e}")
