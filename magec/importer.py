"""Import a Magec ``data/store.json`` (G1 and G2 shapes, legacy fields migrated), keeping ids.

Order follows the reference graph so every reference exists when its referrer is created (graph
flows that embed other flows come after them: :func:`magec.flows.graph_rules.subflow_order`). Items
that fail validation are reported and skipped; the rest is imported. Settings keep ``flows.*``
and ``temporaryDir`` (G2); a router's older ``defaultRoute`` label becomes ``otherwise``. Magec-encrypted secret values
(``enc:v1:``) are decrypted with Magec's ``server.encryptionKey`` from
``$MAGEC_SOURCE_ENCRYPTION_KEY``; without it they are imported without a value and reported
"reenter"; an encrypted value in any other field never came from Magec and the item is refused
(:func:`_no_ciphertext`). Client tokens (clear in Magec) are kept — stored hashed, so clients keep working. A
``store.json`` is trusted code and credentials: stdio MCP servers (commands that run here when an
agent uses them) are imported only with ``allow_stdio`` (``--allow-stdio-mcp``, or the operator's
answer at the CLI's prompt) — without it the import is refused before anything is written, naming
each command — and the report's ``trusted`` lines name every such command and every client token
and platform credential that keeps working. The
returned counts carry the full report (:class:`magec.import_check.ImportReport`: every item, and
any field not kept), which the CLI prints. Skills come first, with their files from
Magec's data directory (:mod:`magec.skills.importer`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from magec.errors import MagecError, ValidationError
from magec.flows.graph_rules import OTHERWISE, subflow_order
from magec.import_check import (
    MAGEC_PREFIX,
    ImportReport,
    decrypt_magec,
    dropped_fields,
    stdio_servers,
    trust_notes,
)
from magec.resources import KINDS
from magec.skills.importer import import_skills
from magec.store import sensitive
from magec.store.store import Store

log = logging.getLogger(__name__)
ORDER = ["secrets", "backends", "memoryProviders", "mcpServers", "commands", "agents", "flows", "clients"]
#: Magec's ``server.encryptionKey`` (its secrets are encrypted with it): read from this variable
KEY_ENV = "MAGEC_SOURCE_ENCRYPTION_KEY"


class ImportCounts(dict[str, int]):
    """Imported items per kind, with the full :class:`~magec.import_check.ImportReport` as ``report``."""

    report: ImportReport


def _secret(item: Any, key: str) -> tuple[Any, str]:
    """A Magec secret with its value readable by magec (decrypted with Magec's key), or a note that
    the value must be re-entered (it stays encrypted under a key magec does not have, or it was
    empty in the file)."""
    if isinstance(item, dict) and item.get("value") in ("", None):
        # imported as it is (the secret and its references stay), but a ${KEY} of it expands to
        # nothing: a backend's key sent empty, a 401 no one connects to this import
        return {**item, "value": ""}, "value is empty in store.json: enter it"
    if not isinstance(item, dict) or not str(item.get("value", "")).startswith(MAGEC_PREFIX):
        return item, ""
    clear = decrypt_magec(str(item["value"]), key)
    if clear is None:
        why = "wrong" if key else f"no Magec key ({KEY_ENV})"
        return {**item, "value": ""}, f"value encrypted by Magec ({why}): re-enter it"
    return {**item, "value": clear}, ""


def _normalise(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    item = dict(item)
    if kind == "secrets" and str(item.get("value", "")).startswith("enc:v1:"):
        item["value"] = ""
    _no_ciphertext(kind, item)
    if kind == "mcpServers" and not item.get("type"):
        item["type"] = "stdio" if item.get("command") and not item.get("endpoint") else "http"
    if kind == "clients" and item.get("enabled") is None:
        item["enabled"] = True
    if kind == "flows" and isinstance(item.get("nodes"), list):
        item = _graph_flow(item)
    return item


def _no_ciphertext(kind: str, item: dict[str, Any]) -> None:
    """Refuse (``ValidationError`` naming the field) an encrypted value in a sensitive field.

    Magec encrypts secrets' values only (blanked above, or decrypted with its key by
    :func:`_secret`); anything else encrypted was put there by the file's author, and an import
    keeps encrypted values as they come. A ciphertext copied from a backup of *this* install (an
    archive meant to be safe where the key is not) beside a URL of the author's choosing would
    have had magec decrypt the operator's API key and send it there."""
    model = KINDS.get(kind)
    if model is None:
        return
    for name in sensitive.encrypted_fields(model.sensitive + model.secret_urls, item):
        raise ValidationError(
            f"{name}: an encrypted value, which Magec never writes outside a secret's value: it came "
            "from elsewhere (a magec backup?) and is not carried to this record; type the value again",
            field=name,
        )


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


def stdio_refusal(servers: list[str]) -> str:
    """Why an import with stdio MCP servers ``servers`` was refused, and what to do."""
    return ("store.json has stdio MCP servers, which run these commands on this machine when an agent "
            "uses them:\n" + "\n".join(f"  {s}" for s in servers) + "\nnothing was imported: check them, "
            "then run again with --allow-stdio-mcp")


async def import_store(
    store: Store, data: dict[str, Any], console: Console | None = None, *, source: Path | None = None,
    allow_stdio: bool = False,
) -> ImportCounts:
    """Create every resource of ``data`` with its original id; returns counts per kind. ``source`` is
    Magec's data directory (beside ``store.json``), where skills keep their files. Refuses
    (``MagecError``, :func:`stdio_refusal`) before writing anything when ``data`` has stdio MCP
    servers and ``allow_stdio`` is false."""
    if not isinstance(data, dict):
        raise MagecError("store.json must be a JSON object")
    for kind in ("skills", *ORDER):  # checked before anything is written: no half-done import
        if data.get(kind) and not isinstance(data[kind], list):
            raise MagecError(f"store.json: {kind} must be a list")
    if not allow_stdio and (servers := stdio_servers(data)):
        raise MagecError(stdio_refusal(servers))
    counts: dict[str, int] = {}
    # skills reference nothing and agents reference them: first (magec.skills.importer)
    counts["skills"] = await import_skills(store, data.get("skills") or [], source, console)
    total = sum(len(data.get(k) or []) for k in ORDER)
    report = ImportReport()
    key = os.environ.get(KEY_ENV, "")
    with Progress(console=console, transient=True, disable=console is None) as progress:
        task = progress.add_task("importing", total=total)
        for kind in ORDER:
            counts[kind] = 0
            items = data.get(kind) or []
            for item in _flows_in_order(items) if kind == "flows" else items:
                progress.advance(task)
                item, note = _secret(item, key) if kind == "secrets" else (item, "")
                try:
                    if not isinstance(item, dict):
                        raise MagecError("not a JSON object")
                    stored = await store.create(kind, _normalise(kind, item), keep_id=True)
                    counts[kind] += 1
                    report.add(kind, item, "reenter" if note else "imported", note)
                    report.trusted += trust_notes(kind, item)
                    report.dropped += [f"{kind} {stored['id']}: {p}" for p in dropped_fields(kind, item, stored)]
                except MagecError as e:
                    report.add(kind, item, "skipped", str(e))
                    msg = f"skipped {kind} {item.get('name') or item.get('id') if isinstance(item, dict) else item!r}: {e}"
                    log.warning(msg)
    if isinstance(data.get("settings"), dict) and data["settings"]:
        settings = {"id": "settings", "name": "settings", **data["settings"]}
        try:
            incoming, changes = _settings_onto(await store.get_settings(), data["settings"])
            saved = await store.put_settings(incoming)
            report.add("settings", settings, "imported", "; ".join(changes) or "nothing changed")
            report.dropped += [f"settings: {p}" for p in dropped_fields("settings", data["settings"], saved)]
        except MagecError as e:
            report.add("settings", settings, "skipped", str(e))
            log.warning("settings not imported: %s", e)
    await _report_skills(store, data.get("skills") or [], report)
    report.unknown_sections = sorted(set(data) - {*ORDER, "settings", "skills"})
    if console:
        for line in report.lines():
            console.print(line, markup=False, highlight=False)
    result = ImportCounts(counts)
    result.report = report
    return result


def _settings_onto(current: dict[str, Any], incoming: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The store's settings as they apply to this server, and what they change, in words.

    A Magec store names no provider when none was set (``"longTermProvider": ""``): imported into
    a server that has one, that empty value would switch long-term memory (or the session store)
    off for every agent, silently. An empty value never replaces a set one; every change is said."""
    merged = dict(incoming)
    changes: list[str] = []
    for key, value in incoming.items():
        before = current.get(key)
        if value in ("", None) and before not in ("", None):
            merged[key] = before
            changes.append(f"{key} kept {before!r} (empty in the store)")
        elif value != before and not isinstance(value, (dict, list)):
            changes.append(f"{key} {before!r} → {value!r}")
        elif value != before:
            changes.append(f"{key} replaced")
    return merged, changes


async def _report_skills(store: Store, items: list[Any], report: ImportReport) -> None:
    """Skills are imported by :mod:`magec.skills.importer`; the report lists each one found or not."""
    for item in items:
        found = isinstance(item, dict) and await store.exists("skills", str(item.get("id", "")))
        report.add("skills", item, "imported" if found else "skipped", "" if found else "not imported")
