"""Example flows ``magec examples load`` creates: "Research pipeline", "Debate" (trees) and
"Support triage" (a graph: a classifier, a router and three desks).

Definitions are plain data (:data:`EXAMPLES`); :func:`load_examples` creates each example's agents
and its flow through the store (so normal save-time validation applies), putting agent *i* of an
example on ``picks[i % len(picks)]`` (one pick = every agent on it). A flow whose name already
exists is skipped with its agents (running the command twice creates nothing new).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from magec.backends import registry
from magec.errors import ValidationError
from magec.store.store import Store


@dataclass(frozen=True)
class ExampleAgent:
    key: str  # referenced by the flow tree as {"agent": key}
    name: str
    description: str
    system_prompt: str
    output_key: str = ""


@dataclass(frozen=True)
class ExampleFlow:
    name: str
    description: str
    agents: list[ExampleAgent]
    #: the flow tree; agent steps name an agent by ``"agent": <key>``
    root: dict[str, Any] = field(default_factory=dict)
    #: or a graph ``{entry, nodes, edges}``; agent nodes name an agent by ``"agent": <key>``
    graph: dict[str, Any] = field(default_factory=dict)


def _agent(key: str, response: bool = False) -> dict[str, Any]:
    return {"type": "agent", "agent": key, "responseAgent": response}


RESEARCH = ExampleFlow(
    name="Research pipeline",
    description="Two researchers work in parallel, a fact checker reviews both, a synthesiser answers.",
    agents=[
        ExampleAgent("researcher_a", "Researcher A", "Researches the question from first principles.",
                     "You are a meticulous researcher. Answer the user's question with the key facts, figures "
                     "and mechanisms. Be concise: at most 8 bullet points.", output_key="research_a"),
        ExampleAgent("researcher_b", "Researcher B", "Researches practical examples and counterpoints.",
                     "You are a pragmatic researcher. For the user's question give concrete real-world examples, "
                     "open questions and counterpoints. Be concise: at most 8 bullet points.",
                     output_key="research_b"),
        ExampleAgent("fact_checker", "Fact Checker", "Checks the researchers' claims.",
                     "You are a fact checker. Review these findings and flag anything doubtful or unsupported.\n\n"
                     "Researcher A:\n{{agent.output:research_a}}\n\nResearcher B:\n{{agent.output:research_b}}\n\n"
                     "List each doubtful claim with a one-line reason; say 'No issues' if none.",
                     output_key="fact_check"),
        ExampleAgent("synthesiser", "Synthesiser", "Writes the final answer.",
                     "You write the final answer for the user from the research below, leaving out anything the "
                     "fact checker doubted.\n\nResearcher A:\n{{agent.output:research_a}}\n\nResearcher B:\n"
                     "{{agent.output:research_b}}\n\nFact check:\n{{agent.output:fact_check}}\n\n"
                     "Answer clearly in the user's language."),
    ],
    root={"type": "sequential", "steps": [
        {"type": "parallel", "steps": [_agent("researcher_a"), _agent("researcher_b")]},
        _agent("fact_checker"),
        _agent("synthesiser", response=True),
    ]},
)

DEBATE = ExampleFlow(
    name="Debate",
    description="Two debaters argue in rounds; a moderator ends the debate (exit_loop) and gives the verdict.",
    agents=[
        ExampleAgent("debater_pro", "Debater (for)", "Argues for the motion.",
                     "You argue FOR the user's motion. Reply to the other side's latest points in at most "
                     "4 sentences; do not repeat yourself."),
        ExampleAgent("debater_con", "Debater (against)", "Argues against the motion.",
                     "You argue AGAINST the user's motion. Reply to the other side's latest points in at most "
                     "4 sentences; do not repeat yourself."),
        ExampleAgent("moderator", "Moderator", "Keeps score and ends the debate.",
                     "You moderate a debate about the user's motion. After each round summarise it in two "
                     "sentences. When both sides have made their case or start repeating themselves, call the "
                     "exit_loop tool and then give your verdict with a one-paragraph justification."),
    ],
    root={"type": "loop", "maxIterations": 5, "exit": {"mode": "agent"}, "steps": [
        _agent("debater_pro"), _agent("debater_con"), _agent("moderator", response=True),
    ]},
)

def _node(node_id: str, ntype: str, x: int, y: int, **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "type": ntype, "x": x, "y": y, "w": 170, "h": 64, **fields}


TRIAGE = ExampleFlow(
    name="Support triage",
    description="A classifier labels the request; a router sends it to the billing, technical or general desk.",
    agents=[
        ExampleAgent("classifier", "Triage classifier", "Labels a support request.",
                     "Classify the user's request. Reply with exactly one word: billing, technical or other."),
        ExampleAgent("billing", "Billing desk", "Answers billing questions.",
                     "You are the billing desk: invoices, refunds, payments and plans. Answer the user's request "
                     "helpfully and concisely; ask for an invoice number when you need one."),
        ExampleAgent("technical", "Technical desk", "Answers technical questions.",
                     "You are technical support. Diagnose the user's problem step by step and give clear fixes."),
        ExampleAgent("general", "General desk", "Answers everything else.",
                     "You are a friendly support agent. Answer the user's request or say who can help."),
    ],
    graph={"entry": "classify", "startX": 20, "startY": 130, "nodes": [
        _node("classify", "agent", 120, 110, agent="classifier"),
        _node("route", "router", 340, 110, rules=[
            {"when": 'input.matches("(?i)billing")', "route": "billing"},
            {"when": 'input.matches("(?i)technical")', "route": "technical"}]),
        _node("billing", "agent", 580, 10, agent="billing", responseAgent=True),
        _node("technical", "agent", 580, 110, agent="technical", responseAgent=True),
        _node("general", "agent", 580, 210, agent="general", responseAgent=True),
    ], "edges": [
        {"from": "classify", "to": "route"},
        {"from": "route", "to": "billing", "route": "billing"},
        {"from": "route", "to": "technical", "route": "technical"},
        {"from": "route", "to": "general", "route": "otherwise"},
    ]},
)

EXAMPLES: list[ExampleFlow] = [RESEARCH, DEBATE, TRIAGE]


@dataclass(frozen=True)
class BackendPick:
    backend: str  # id or name
    model: str = ""


@dataclass
class LoadResult:
    created: dict[str, str] = field(default_factory=dict)  # flow name -> flow id
    skipped: list[str] = field(default_factory=list)  # flow names that already existed


def _bind(step: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    out = {k: v for k, v in step.items() if k not in ("agent", "steps")}
    if step["type"] == "agent":
        out["agentId"] = ids[step["agent"]]
    else:
        out["steps"] = [_bind(s, ids) for s in step["steps"]]
    return out


async def _resolve(store: Store, picks: list[BackendPick]) -> list[tuple[str, str]]:
    if not picks:
        raise ValidationError("pick at least one backend (--backend <id or name>)", field="backend")
    backends = (await store.all_raw()).get("backends", {})
    out = []
    for pick in picks:
        found = backends.get(pick.backend) or next(
            (b for b in backends.values() if b.get("name") == pick.backend), None)
        if found is None:
            raise ValidationError(f"backend {pick.backend!r} not found (give its id or name)", field="backend")
        if not pick.model and registry.defaults(str(found.get("type", ""))).requires_model:
            raise ValidationError(f"backend {found['name']!r}: a model is required (--model)", field="model")
        out.append((str(found["id"]), pick.model))
    return out


async def load_examples(store: Store, picks: list[BackendPick],
                        examples: list[ExampleFlow] | None = None) -> LoadResult:
    """Create the example agents + flows on the picked backends; existing flows (by name) are skipped."""
    resolved = await _resolve(store, picks)
    existing = {f.get("name") for f in (await store.all_raw()).get("flows", {}).values()}
    result = LoadResult()
    for example in examples or EXAMPLES:
        if example.name in existing:
            result.skipped.append(example.name)
            continue
        ids: dict[str, str] = {}
        for i, spec in enumerate(example.agents):
            backend_id, model = resolved[i % len(resolved)]
            created = await store.create("agents", {
                "name": spec.name, "description": spec.description, "systemPrompt": spec.system_prompt,
                "outputKey": spec.output_key, "llm": {"backend": backend_id, "model": model},
                "tags": ["example"],
            })
            ids[spec.key] = str(created["id"])
        body: dict[str, Any] = {"name": example.name, "description": example.description}
        if example.graph:
            nodes = [{**{k: v for k, v in n.items() if k != "agent"}, **({"agentId": ids[n["agent"]]}
                                                                       if "agent" in n else {})}
                     for n in example.graph["nodes"]]
            body.update(example.graph, nodes=nodes)
        else:
            body["root"] = _bind(example.root, ids)
        flow = await store.create("flows", body)
        result.created[example.name] = str(flow["id"])
    return result
