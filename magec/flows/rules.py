"""Save-time rules of flows: the step tree's structure and its CEL loop exits; graph flows are
checked by :mod:`magec.flows.graph_rules` (structure, CEL, scripts, subflow cycles).

:func:`validate_step` is also what :mod:`magec.flows.compile` checks before building, so a flow
that saved always compiles structurally. Registered into the store by the composition root
(:data:`RULES`, see :mod:`magec.resources.rules`). Their messages reach people in words
(:mod:`magec.flows.wording`: ``Step 2: agent is required``); the error's ``field`` keeps the path.
"""

from __future__ import annotations

from magec.errors import ValidationError
from magec.flows.cel import check_expression
from magec.flows.graph_rules import check_subflows, validate_graph
from magec.flows.wording import reworded
from magec.resources import references, singular
from magec.resources.flow import MAX_TREE_STEPS
from magec.resources.models import Flow, FlowStep
from magec.resources.rules import RuleTable, Save


def validate_step(step: FlowStep, path: str) -> None:
    """Structural flow checks: agent ids present, containers non-empty, loops bounded, CEL valid."""
    if step.type == "agent":
        if not step.agent_id:
            raise ValidationError(f"{path}.agentId: is required for agent steps", field=f"{path}.agentId")
        return
    if not step.steps:
        raise ValidationError(
            f"{path}.steps: a {step.type} step needs at least one child step", field=f"{path}.steps"
        )
    if step.type == "loop":
        if step.max_iterations < 1:
            raise ValidationError(
                f"{path}.maxIterations: must be at least 1", field=f"{path}.maxIterations"
            )
        if step.exit.mode == "expression":
            check_expression(step.exit.expression, f"{path}.exit.expression")
    for i, child in enumerate(step.steps):
        validate_step(child, f"{path}.steps[{i}]")


def count_steps(step: FlowStep) -> int:
    """How many steps the tree under ``step`` holds, itself included."""
    return 1 + sum(count_steps(child) for child in step.steps)


def flow_steps(save: Save) -> None:
    try:
        _check(save)
    except ValidationError as e:
        raise reworded(e, save.data) from None


def _check(save: Save) -> None:
    flow = Flow.model_validate(save.data)
    if flow.root is not None:
        # each container is capped by the model; the whole tree here (nesting multiplies the cap)
        if (n := count_steps(flow.root)) > MAX_TREE_STEPS:
            raise ValidationError(f"root: a flow holds at most {MAX_TREE_STEPS} steps (this one {n})", field="root")
        validate_step(flow.root, "root")
    else:
        validate_graph(flow)
        flow_id = str((save.old or {}).get("id") or "")
        check_subflows(flow, flow_id or "\x00new", save.all_raw.get("flows", {}))
    # the store checks references too (after the rules), in paths; here first, so in words
    for ref in references.refs_of("flows", save.data):
        if not any(ref.target in save.all_raw.get(t, {}) for t in ref.target_kinds):
            what = " or ".join(singular(t) for t in ref.target_kinds)
            raise ValidationError(f"{ref.field}: {what} {ref.target!r} not found", field=ref.field)


RULES: RuleTable = {"flows": (flow_steps,)}
