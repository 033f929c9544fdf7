"""Flow models: a tree (``root``, Magec G1) or a graph (``entry``, ``nodes``, ``edges``, Magec G2).

Shape only; the step tree and graph rules live in :mod:`magec.flows.rules` and
:mod:`magec.flows.graph_rules`."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from magec.resources.base import (
    _OUTPUT_KEY,
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_PROMPT,
    RefSpec,
    Resource,
    Toggle,
    _Model,
)

#: size caps of tree flows: children of one container (a parallel step runs them all at once) and
#: steps in the whole tree (as many as a graph's nodes; see :func:`magec.flows.rules.validate_step`)
MAX_CHILD_STEPS = 100
MAX_TREE_STEPS = 500


class LoopExit(_Model):
    mode: Literal["none", "agent", "expression"] = "none"
    expression: str = ""

    @field_validator("mode", mode="before")
    @classmethod
    def _aliases(cls, v: Any) -> Any:
        return {"agent-decides": "agent", "agent_decides": "agent", "": "none", None: "none"}.get(v, v)


class FlowStep(_Model):
    # ``exit`` is magec's: kept when Magec's UI saves a loop
    magec_fields: ClassVar[frozenset[str] | None] = frozenset(
        {"type", "agentId", "responseAgent", "maxIterations", "steps"}
    )
    type: Literal["agent", "sequential", "parallel", "loop"]
    agent_id: str = ""
    response_agent: bool = False
    max_iterations: int = Field(default=0, ge=0)
    exit: LoopExit = Field(default_factory=LoopExit)
    # a parallel step starts every branch at once: the cap bounds one turn's concurrent model calls
    steps: list[FlowStep] = Field(default_factory=list, max_length=MAX_CHILD_STEPS)


#: graph node ids (Magec's rule): an identifier that may also contain ``-``; ``START`` is reserved
NODE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
NODE_TYPES = ("agent", "router", "join", "parallel", "subflow", "expression", "template", "code")
#: size caps of graph flows (a graph is a config row, not a program store)
MAX_NODES = 500
MAX_SCRIPT = 100_000


class RouterRule(_Model):
    """``when`` (boolean CEL over ``state``, ``iterations`` and ``input``) -> ``route`` label."""

    when: str = Field(default="", max_length=10_000)
    route: str = Field(default="", max_length=MAX_NAME)


class FlowNode(_Model):
    """One node of a graph flow (Magec G2). Which fields matter depends on ``type``
    (:mod:`magec.flows.graph_rules` checks them); ``x, y, w, h`` are editor layout only."""

    id: str = Field(max_length=64)
    type: Literal["agent", "router", "join", "parallel", "subflow", "expression", "template", "code"]
    agent_id: str = ""
    response_agent: bool = False
    rules: list[RouterRule] = Field(default_factory=list, max_length=100)
    max_concurrency: int = Field(default=0, ge=0, le=1000)
    flow_id: str = ""
    expression: str = Field(default="", max_length=10_000)
    template: str = Field(default="", max_length=MAX_PROMPT)
    script: str = Field(default="", max_length=MAX_SCRIPT)
    timeout_ms: int = Field(default=0, ge=0, le=3_600_000)
    max_output_bytes: int = Field(default=0, ge=0, le=100_000_000)
    output_key: str = ""
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None

    @field_validator("output_key")
    @classmethod
    def _output_key(cls, v: str) -> str:
        if v and not _OUTPUT_KEY.match(v):
            raise ValueError("outputKey must match ^[A-Za-z_][A-Za-z0-9_]*$")
        return v


#: the fields each node type uses (the rest is dropped from the stored form when unset)
_NODE_FIELDS: dict[str, tuple[str, ...]] = {
    "agent": ("agentId", "responseAgent"),
    "router": ("rules",),
    "join": (),
    "parallel": ("agentId", "responseAgent", "maxConcurrency", "outputKey"),
    "subflow": ("flowId",),
    "expression": ("expression", "outputKey"),
    "template": ("template", "outputKey"),
    "code": ("script", "timeoutMs", "maxOutputBytes", "outputKey"),
}


def tree_agent_ids(root: FlowStep) -> list[str]:
    """A tree flow's agent ids in breadth-first order from ``root``, each once (the order Magec's
    clients list a flow's members in)."""
    order: list[str] = []
    queue = [root]
    while queue:
        step = queue.pop(0)
        if step.type == "agent":
            if step.agent_id and step.agent_id not in order:
                order.append(step.agent_id)
        else:
            queue.extend(step.steps)
    return order


class FlowEdge(_Model):
    from_: str = Field(alias="from", max_length=64)
    to: str = Field(max_length=64)
    route: str = Field(default="", max_length=MAX_NAME)


class Flow(Resource):
    """Either a tree (``root``, Magec G1) or a graph (``entry``, ``nodes``, ``edges``, Magec G2).
    The form the user wrote is the form stored and returned (:meth:`dump` drops the other)."""

    kind: ClassVar[str] = "flows"
    path: ClassVar[str] = "flows"
    singular: ClassVar[str] = "flow"
    runnable: ClassVar[bool] = True
    # Magec G1's UI edits the tree form; a graph (entry/nodes/edges, layout) is kept by its saves
    magec_fields: ClassVar[frozenset[str] | None] = frozenset({"name", "description", "root", "a2a"})
    references: ClassVar[tuple[RefSpec, ...]] = (
        RefSpec("root", ("agents",), "structural", steps=True),
        RefSpec("nodes[].agentId", ("agents",), "structural", graph=True),
        RefSpec("nodes[].flowId", ("flows",), "structural", graph=True),
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    root: FlowStep | None = None
    entry: str = ""
    nodes: list[FlowNode] = Field(default_factory=list, max_length=MAX_NODES)
    edges: list[FlowEdge] = Field(default_factory=list, max_length=MAX_NODES * 10)
    start_x: float | None = None
    start_y: float | None = None
    a2a: Toggle = Field(default_factory=Toggle, alias="a2a")

    @property
    def is_graph(self) -> bool:
        return self.root is None

    @model_validator(mode="after")
    def _one_form(self) -> Flow:
        # a magec ValidationError (not a ValueError) passes through pydantic and keeps its field
        from magec.errors import ValidationError

        if self.root is None and not self.nodes and not self.entry:
            raise ValidationError(
                "root: is required (a tree flow), or give entry, nodes and edges (a graph flow)", field="root"
            )
        if self.root is not None and (self.nodes or self.edges or self.entry):
            raise ValidationError(
                "root: a flow is either a tree (root) or a graph (entry, nodes, edges), not both",
                field="root",
            )
        return self

    def agent_ids(self) -> list[str]:
        """The agents this flow runs directly, in order (tree: breadth-first; graph: node order)."""
        if self.root is None:
            return list(dict.fromkeys(n.agent_id for n in self.nodes if n.agent_id))
        return tree_agent_ids(self.root)

    def response_agent_ids(self) -> list[str]:
        """The agents flagged ``responseAgent`` (on a tree step or a graph node), in order."""
        if self.root is None:
            return list(dict.fromkeys(n.agent_id for n in self.nodes if n.agent_id and n.response_agent))
        found: list[str] = []
        queue = [self.root]
        while queue:
            step = queue.pop(0)
            if step.type == "agent" and step.response_agent and step.agent_id and step.agent_id not in found:
                found.append(step.agent_id)
            queue.extend(step.steps)
        return found

    def dump(self) -> dict[str, Any]:
        data = super().dump()
        drop = ("root",) if self.root is None else ("entry", "nodes", "edges", "startX", "startY")
        for key in drop:
            data.pop(key, None)
        if self.root is None:
            for key in ("startX", "startY"):
                if data.get(key) is None:
                    data.pop(key, None)
            for node in data["nodes"]:
                relevant = _NODE_FIELDS.get(node["type"], ())
                for key in [k for k, v in node.items() if k not in relevant and k not in ("id", "type")]:
                    if node[key] in (
                        None,
                        "",
                        0,
                        False,
                        [],
                    ):  # Magec's omitempty: unset fields of other types
                        node.pop(key)
            for edge in data["edges"]:
                if not edge.get("route"):
                    edge.pop("route", None)
        return data
