"""Import a Magec ``data/store.json`` (G1 and G2 shapes, legacy fields migrated), keeping ids.

Order follows the reference graph so every reference exists when its referrer is created (graph
flows that embed other flows come after them: :func:`magec.flows.graph_rules.subflow_order`). Items
that fail validation are reported and skipped; the rest is imported. Settings keep ``flows.*``
and ``temporaryDir`` (G2); a router's older ``defaultRoute`` label becomes ``otherwise``. Magec-encrypted secret values
(``enc:v1:`` under Magec's own key) cannot be read here: those secrets are imported without a value
and reported, so the user re-enters them in the Admin UI. Skills come first, with their files from
Magec's data directory (:mod:`magec.skills.importer`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from magec.errors import MagecError
from magec.flows.graph_rules import OTHERWISE, subflow_order
from magec.skills.importer import import_skills
from magec.store.store import Store

log = logging.getLogger(__name__)
ORDER = ["secrets", "backends", "memoryProviders", "mcpServers", "commands", "agents", "flows", "clients"]


def _normalise(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    item = dict(item)
    if kind == "secrets" and str(item.get("value", "")).startswith("enc:v1:"):
        item["value"] = ""
    if kind == "mcpServers" and not item.get("type"):
        item["type"] = "stdio" if item.get("command") and not item.get("endpoint") else "http"
    if kind == "clients" and item.get("enabled") is None:
        item["enabled"] = True
    if kind == "flows" and isinstance(item.get("nodes"), list):
        item = _graph_flow(item)
    return item


def _graph_flow(item: dict[str, Any]) -> dict[str, Any]:
    """An earlier G2 router named its fallback label (``defaultRoute``); today it is ``otherwise``."""
    item["nodes"] = [dict(n) if isinstance(n, dict) else n for n in item["nodes"]]
    renames = {n["id"]: n.pop("defaultRoute") for n in item["nodes"]
               if isinstance(n, dict) and n.get("type") == "router" and n.get("defaultRoute")}
    if renames and isinstance(item.get("edges"), list):
        item["edges"] = [{**e, "route": OTHERWISE} if isinstance(e, dict) and e.get("from") in renames
                         and e.get("route") == renames[e["from"]] else e for e in item["edges"]]
    return item


def _flows_in_order(flows: list[Any]) -> list[Any]:
    """Flows that embed others (subflow nodes) after the flows they embed; a cycle keeps file order
    (the save-time rules then reject the flow that closes it)."""
    by_id = {str(f.get("id")): f for f in flows if isinstance(f, dict)}
    ordered: list[str] = []
    for fid in by_id:
        try:
            deps = subflow_order(by_id, fid)
        except ValueError:
            deps = []
        for dep in [*deps, fid]:
            if dep in by_id and dep not in ordered:
                ordered.append(dep)
    return [by_id[f] for f in ordered] + [f for f in flows if not isinstance(f, dict)]


async def import_store(
    store: Store, data: dict[str, Any], console: Console | None = None, *, source: Path | None = None
) -> dict[str, int]:
    """Create every resource of ``data`` with its original id; returns counts per kind. ``source`` is
    Magec's data directory (beside ``store.json``), where skills keep their files."""
    if not isinstance(data, dict):
        raise MagecError("store.json must be a JSON object")
    counts: dict[str, int] = {}
    # skills reference nothing and agents reference them: first (magec.skills.importer)
    counts["skills"] = await import_skills(store, data.get("skills") or [], source, console)
    total = sum(len(data.get(k) or []) for k in ORDER)
    with Progress(console=console, transient=True, disable=console is None) as progress:
        task = progress.add_task("importing", total=total)
        for kind in ORDER:
            counts[kind] = 0
            items = data.get(kind) or []
            for item in _flows_in_order(items) if kind == "flows" else items:
                progress.advance(task)
                try:
                    await store.create(kind, _normalise(kind, item), keep_id=True)
                    counts[kind] += 1
                except MagecError as e:
                    msg = f"skipped {kind} {item.get('name') or item.get('id')!r}: {e}"
                    log.warning(msg)
                    if console:
                        console.print(f"[yellow]{msg}[/yellow]")
    if data.get("settings"):
        try:
            await store.put_settings(
                {k: v for k, v in data["settings"].items()
                 if k in ("sessionProvider", "longTermProvider", "flows", "temporaryDir")}
            )
        except MagecError as e:
            log.warning("settings not imported: %s", e)
    return counts
