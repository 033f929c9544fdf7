"""Flow errors in user words: ``root.steps[1].agentId: is required`` -> ``Step 2: agent is required``.

The checks of :mod:`magec.flows.rules`, :mod:`magec.flows.graph_rules`, the reference check and
the compiler name the offending field as a JSON path (``root.steps[0].steps[1].agentId``,
``nodes[2].rules[0].when``, ``edges[3].to``). Machines keep that path (the error's ``field``, which
the Admin UI uses to highlight the step or node); people read the message, so it is reworded here:

* tree steps are numbered as the editor shows them, 1-based and dotted for nesting
  (``root.steps[0].steps[1]`` -> ``Step 1.2``; ``root`` itself -> ``The flow``);
* graph nodes are named by their id (``nodes[2]`` -> ``Node "billing"``), edges by their ends
  (``edges[3]`` -> ``Edge "route → billing"``), ``entry`` is the start node;
* the last path part becomes a word (``agentId`` -> ``agent``, ``exit.expression`` ->
  ``exit condition``, ``rules[0].when`` -> ``rule 1 condition``).

:func:`in_words` rewrites one message (a message not starting with a path is returned as is);
:func:`reworded` does it for a :class:`~magec.errors.ValidationError`, keeping its ``field``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from magec.errors import ValidationError

#: the path at the start of a message: ``root…``, ``nodes…``, ``edges…``, ``entry``
_HEAD = re.compile(r"^(root|nodes|edges|entry)((?:\[\d+\]|\.[A-Za-z_][A-Za-z0-9_]*)*)(?=: )")
_PART = re.compile(r"\[(\d+)\]|\.([A-Za-z_][A-Za-z0-9_]*)")

#: a field's word (the step or node is named before it)
_WORDS = {
    "agentId": "agent",
    "flowId": "flow",
    "maxIterations": "max iterations",
    "exit.expression": "exit condition",
    "exit.mode": "exit mode",
    "expression": "expression",
    "template": "template",
    "script": "script",
    "outputKey": "output key",
    "responseAgent": "response",
    "type": "type",
    "id": "id",
    "rules": "",
    "steps": "",
    "to": "target",
    "from": "source",
    "route": "route label",
    "maxConcurrency": "max concurrency",
    "timeoutMs": "timeout",
    "maxOutputBytes": "max output",
}


def _parts(path: str) -> list[str | int]:
    return [int(i) if i else str(name) for i, name in _PART.findall(path)]


def _get(seq: Any, index: int) -> Mapping[str, Any]:
    if isinstance(seq, Sequence) and 0 <= index < len(seq) and isinstance(seq[index], Mapping):
        return seq[index]
    return {}


def _tree(parts: list[str | int]) -> tuple[str, str]:
    """(``Step 1.2`` / ``The flow``, the rest of the path as a dotted field name)."""
    numbers: list[str] = []
    i = 0
    while i + 1 < len(parts) and parts[i] == "steps" and isinstance(parts[i + 1], int):
        numbers.append(str(int(parts[i + 1]) + 1))
        i += 2
    label = f"Step {'.'.join(numbers)}" if numbers else "The flow"
    return label, ".".join(str(p) for p in parts[i:])


def _graph(head: str, parts: list[str | int], flow: Mapping[str, Any]) -> tuple[str, str]:
    if head == "entry":
        return "Start node", ""
    if not parts or not isinstance(parts[0], int):
        return head.capitalize(), ".".join(str(p) for p in parts)
    index, rest = int(parts[0]), parts[1:]
    item = _get(flow.get(head), index)
    if head == "edges":
        ends = f"{item.get('from', '?')} → {item.get('to', '?')}" if item else str(index + 1)
        return f'Edge "{ends}"' if item else f"Edge {ends}", ".".join(str(p) for p in rest)
    node_id = item.get("id")
    label = f'Node "{node_id}"' if node_id and rest != ["id"] else f"Node {index + 1}"
    if len(rest) >= 2 and rest[0] == "rules" and isinstance(rest[1], int):
        label += f", rule {int(rest[1]) + 1}"
        leaf = ".".join(str(p) for p in rest[2:])
        return label, {"when": "condition", "route": "route"}.get(leaf, leaf)
    return label, ".".join(str(p) for p in rest)


def _sentence(label: str, field: str, rest: str) -> str:
    word = _WORDS.get(field, field)
    if word in ("condition", "route") and re.search(r"rule \d+$", label):
        label, word = f"{label} {word}", ""
    if rest.startswith(("is ", "must ")):
        # "is required for agent steps" after "Step 2: agent" says the step type twice
        rest = re.sub(r"^is required for \w+ (steps|nodes)$", "is required", rest)
        return f"{label}: {word} {rest}" if word else f"{label} {rest}"
    if not word or re.match(rf"(an? |the )?{re.escape(word)}\b", rest, re.IGNORECASE):
        return f"{label}: {rest}"
    return f"{label}, {word}: {rest}"


def in_words(message: str, flow: Mapping[str, Any] | None = None) -> str:
    """``message`` with its leading JSON path (if any) replaced by words; ``flow`` (the flow's
    JSON) names graph nodes and edges."""
    m = _HEAD.match(message)
    if m is None:
        return message
    head, path = m.group(1), m.group(2)
    rest = message[m.end() + 2:]
    parts = _parts(path)
    if head == "root":
        label, field = _tree(parts)
    else:
        label, field = _graph(head, parts, flow or {})
    return _sentence(label, field, rest)


def reworded(err: ValidationError, flow: Mapping[str, Any] | None = None) -> ValidationError:
    """A copy of ``err`` whose message is in words; ``field`` (the JSON path) is kept."""
    message = in_words(err.message, flow)
    if message == err.message:
        return err
    return ValidationError(message, field=err.field, **err.details)
