"""The reference graph: which resource field points at which other resource.

```
agent.llm.backend ─────────────► backend        (structural)
agent.transcription.backend ───► backend        (membership)
agent.tts.backend ─────────────► backend        (membership)
agent.mcpServers[] ────────────► mcpServer      (membership)
memoryProvider.embedding.backend ► backend      (structural)
flow step agentId ─────────────► agent          (structural)
client.allowedAgents[] ────────► agent | flow   (membership)
client.config.<type>.defaultAgent ► agent|flow  (membership)
client.config.<type>.commandId ► command        (structural)
settings.sessionProvider / longTermProvider ► memoryProvider (membership)
```
*structural*: the referrer cannot work without it; *membership*: a list entry or optional pointer.
Both block a delete (409) unless ``force``, which scrubs them (flow steps are removed).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

RefKind = Literal["structural", "membership"]


@dataclass(frozen=True)
class Ref:
    field: str
    target: str
    target_kinds: tuple[str, ...]
    kind: RefKind


AGENT_OR_FLOW = ("agents", "flows")


def _walk_steps(step: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, step
    for i, child in enumerate(step.get("steps") or []):
        if isinstance(child, dict):
            yield from _walk_steps(child, f"{path}.steps[{i}]")


def refs_of(kind: str, data: dict[str, Any]) -> Iterator[Ref]:
    """Every outgoing reference of one raw resource (empty ids are skipped)."""
    if kind == "agents":
        for role, rk in (("llm", "structural"), ("transcription", "membership"), ("tts", "membership")):
            target = (data.get(role) or {}).get("backend") or ""
            if target:
                yield Ref(f"{role}.backend", target, ("backends",), rk)  # type: ignore[arg-type]
        for i, mcp in enumerate(data.get("mcpServers") or []):
            yield Ref(f"mcpServers[{i}]", mcp, ("mcpServers",), "membership")
    elif kind == "memoryProviders":
        target = (data.get("embedding") or {}).get("backend") or ""
        if target:
            yield Ref("embedding.backend", target, ("backends",), "structural")
    elif kind == "flows":
        root = data.get("root")
        if isinstance(root, dict):
            for path, step in _walk_steps(root, "root"):
                if step.get("type") == "agent" and step.get("agentId"):
                    yield Ref(f"{path}.agentId", step["agentId"], ("agents",), "structural")
    elif kind == "clients":
        for i, target in enumerate(data.get("allowedAgents") or []):
            yield Ref(f"allowedAgents[{i}]", target, AGENT_OR_FLOW, "membership")
        for ctype, cfg in (data.get("config") or {}).items():
            if not isinstance(cfg, dict):
                continue
            if cfg.get("defaultAgent"):
                yield Ref(f"config.{ctype}.defaultAgent", cfg["defaultAgent"], AGENT_OR_FLOW, "membership")
            if cfg.get("commandId"):
                yield Ref(f"config.{ctype}.commandId", cfg["commandId"], ("commands",), "structural")
    elif kind == "settings":
        for field in ("sessionProvider", "longTermProvider"):
            if data.get(field):
                yield Ref(field, data[field], ("memoryProviders",), "membership")


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


def scrub(kind: str, data: dict[str, Any], target: str) -> dict[str, Any]:
    """A copy of ``data`` with every reference to ``target`` removed."""
    data = copy.deepcopy(data)
    if kind == "agents":
        for role in ("llm", "transcription", "tts"):
            part = data.get(role) or {}
            if part.get("backend") == target:
                part["backend"] = ""
        data["mcpServers"] = [m for m in data.get("mcpServers") or [] if m != target]
    elif kind == "memoryProviders":
        emb = data.get("embedding") or {}
        if emb.get("backend") == target:
            emb["backend"] = ""
    elif kind == "flows":
        root = data.get("root")
        if isinstance(root, dict):
            scrubbed = _scrub_steps(root, target)
            data["root"] = scrubbed if scrubbed is not None else {"type": "sequential", "steps": []}
    elif kind == "clients":
        data["allowedAgents"] = [a for a in data.get("allowedAgents") or [] if a != target]
        for cfg in (data.get("config") or {}).values():
            if isinstance(cfg, dict):
                for key in ("defaultAgent", "commandId"):
                    if cfg.get(key) == target:
                        cfg[key] = ""
    elif kind == "settings":
        for field in ("sessionProvider", "longTermProvider"):
            if data.get(field) == target:
                data[field] = ""
    return data
