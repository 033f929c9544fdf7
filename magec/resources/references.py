"""The reference graph: which resource field points at which other resource.

Declared per model (:attr:`~magec.resources.models.Resource.references`, :class:`RefSpec`); today:
```
agent.llm.backend ─────────────► backend        (structural)
agent.transcription.backend ───► backend        (membership)
agent.tts.backend ─────────────► backend        (membership)
agent.{llm,transcription,tts}.fallbacks[].backend ► backend (membership)
memoryProvider.embedding.fallbacks[].backend ► backend      (membership)
agent.mcpServers[] ────────────► mcpServer      (membership)
memoryProvider.embedding.backend ► backend      (structural)
flow step agentId ─────────────► agent          (structural)
flow nodes[].agentId / flowId ─► agent / flow   (structural; scrub removes the node + its edges)
client.allowedAgents[] ────────► agent | flow   (membership)
client.config.<type>.defaultAgent ► agent|flow  (membership)
client.config.<type>.commandId ► command        (structural)
settings.sessionProvider / longTermProvider ► memoryProvider (membership)
```
*structural*: the referrer cannot work without it; *membership*: a list entry or optional pointer.
Both block a delete (409) unless ``force``, which scrubs them (flow steps are removed).

Contract: :func:`refs_of` and :func:`scrub` read raw (camelCase) dicts and never fail on a shape
they do not expect (a non-dict where a dict was declared is skipped): stored rows may predate a
model change. Empty scalar ids are not references; list entries are reported as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from magec.resources.models import AGENT_OR_FLOW, KINDS, RefKind, RefSpec, Settings

__all__ = ["AGENT_OR_FLOW", "Ref", "RefKind", "RefSpec", "refs_of", "scrub", "specs_of"]


@dataclass(frozen=True)
class Ref:
    field: str
    target: str
    target_kinds: tuple[str, ...]
    kind: RefKind


def describe(refs: list[dict[str, Any]]) -> str:
    """Who ``refs`` (reference rows) are, for a 409's message: the first five, then how many more."""
    who = ", ".join(f"{r['referrerType']} {r['referrerName']!r} ({r['field']})" for r in refs[:5])
    return who + (f" and {len(refs) - 5} more" if len(refs) > 5 else "")


def specs_of(kind: str) -> tuple[RefSpec, ...]:
    """The declared references of ``kind`` (``"settings"`` included); none for an unknown kind."""
    if kind == "settings":
        return Settings.references
    model = KINDS.get(kind)
    return model.references if model is not None else ()


def _slots(data: Any, parts: list[str], prefix: str) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(container, key, camelCase field path) for every slot a spec path names."""
    if not isinstance(data, dict):
        return
    head, *rest = parts
    if head.endswith("[]") and rest:  # a list of objects mid-path: ``llm.fallbacks[].backend``
        name = head[:-2]
        items = data.get(name)
        for i, item in enumerate(items if isinstance(items, list) else []):
            yield from _slots(item, rest, f"{prefix}.{name}[{i}]" if prefix else f"{name}[{i}]")
        return
    for key in list(data) if head == "*" else [head]:
        path = f"{prefix}.{key}" if prefix else key
        if rest:
            yield from _slots(data.get(key), rest, path)
        else:
            yield data, key, path


def _parts(spec: RefSpec) -> tuple[list[str], bool]:
    """Path segments and whether the last one is a list (``name[]``)."""
    is_list = spec.path.endswith("[]")
    return spec.path.removesuffix("[]").split("."), is_list


def _walk_steps(step: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, step
    for i, child in enumerate(step.get("steps") or []):
        if isinstance(child, dict):
            yield from _walk_steps(child, f"{path}.steps[{i}]")


def refs_of(kind: str, data: dict[str, Any]) -> Iterator[Ref]:
    """Every outgoing reference of one raw resource, in declaration order."""
    for spec in specs_of(kind):
        parts, is_list = _parts(spec)
        for container, key, path in _slots(data, parts, ""):
            value = container.get(key)
            if spec.steps:
                if isinstance(value, dict):
                    for step_path, step in _walk_steps(value, path):
                        if step.get("type") == "agent" and step.get("agentId"):
                            yield Ref(f"{step_path}.agentId", step["agentId"], spec.targets, spec.kind)
            elif is_list:
                for i, target in enumerate(value or []):
                    yield Ref(f"{path}[{i}]", target, spec.targets, spec.kind)
            elif value:
                yield Ref(path, value, spec.targets, spec.kind)


def _scrub_steps(step: dict[str, Any], target: str) -> dict[str, Any] | None:
    if step.get("type") == "agent":
        return None if step.get("agentId") == target else step
    kept = []
    for child in step.get("steps") or []:
        if isinstance(child, dict):
            scrubbed = _scrub_steps(child, target)
            if scrubbed is not None:
                kept.append(scrubbed)
    step["steps"] = kept
    return step


def _scrub_graph(data: dict[str, Any], field: str, target: str) -> None:
    """Graph flows: nodes whose ``field`` is ``target`` go with their edges; a removed entry is cleared."""
    nodes = data.get("nodes")
    if not isinstance(nodes, list):
        return
    gone = {n.get("id") for n in nodes if isinstance(n, dict) and n.get(field) == target}
    if not gone:
        return
    data["nodes"] = [n for n in nodes if not (isinstance(n, dict) and n.get("id") in gone)]
    edges = data.get("edges")
    if isinstance(edges, list):
        data["edges"] = [e for e in edges if not (isinstance(e, dict) and (e.get("from") in gone or e.get("to") in gone))]
    if data.get("entry") in gone:
        data["entry"] = ""


def scrub(kind: str, data: dict[str, Any], target: str) -> dict[str, Any]:
    """A copy of ``data`` with every reference to ``target`` removed: scalar ids emptied, list
    entries dropped, flow agent steps removed (an emptied root becomes an empty sequence)."""
    data = copy.deepcopy(data)
    for spec in specs_of(kind):
        if spec.graph:
            _scrub_graph(data, spec.path.rpartition("[].")[2], target)
            continue
        parts, is_list = _parts(spec)
        for container, key, _path in list(_slots(data, parts, "")):
            value = container.get(key)
            if spec.steps:
                if isinstance(value, dict):
                    scrubbed = _scrub_steps(value, target)
                    container[key] = scrubbed if scrubbed is not None else {"type": "sequential", "steps": []}
            elif is_list:
                container[key] = [v for v in value or [] if v != target]
            elif value == target:
                container[key] = ""
        if "[]." in spec.path:  # list entries whose id was emptied go as a whole (a fallback without backend)
            _drop_emptied(data, spec.path)
    return data


def _drop_emptied(data: dict[str, Any], path: str) -> None:
    list_path, _, leaf = path.rpartition("[].")
    for container, key, _p in list(_slots(data, list_path.split("."), "")):
        items = container.get(key)
        if isinstance(items, list):
            container[key] = [x for x in items if not (isinstance(x, dict) and x.get(leaf) == "")]
