"""Import a Magec ``data/store.json`` (G1 shapes, legacy fields migrated), keeping ids.

Order follows the reference graph so every reference exists when its referrer is created. Items
that fail validation are reported and skipped; the rest is imported. Magec-encrypted secret values
(``enc:v1:`` under Magec's own key) cannot be read here: those secrets are imported without a value
and reported, so the user re-enters them in the Admin UI.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.console import Console
from rich.progress import Progress

from magec.errors import MagecError
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
    return item


async def import_store(store: Store, data: dict[str, Any], console: Console | None = None) -> dict[str, int]:
    """Create every resource of ``data`` with its original id; returns counts per kind."""
    if not isinstance(data, dict):
        raise MagecError("store.json must be a JSON object")
    counts: dict[str, int] = {}
    total = sum(len(data.get(k) or []) for k in ORDER)
    with Progress(console=console, transient=True, disable=console is None) as progress:
        task = progress.add_task("importing", total=total)
        for kind in ORDER:
            counts[kind] = 0
            for item in data.get(kind) or []:
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
                {k: v for k, v in data["settings"].items() if k in ("sessionProvider", "longTermProvider")}
            )
        except MagecError as e:
            log.warning("settings not imported: %s", e)
    if data.get("skills"):
        log.warning("%d skills not imported: skills are not supported yet", len(data["skills"]))
    return counts
