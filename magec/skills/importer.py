"""``magec import-magec``: Magec's skills, both generations, with their files.

* G1 ``{id, name, description, instructions, references[{filename, size}]}`` with the files at
  ``<data>/skills/<id>/<filename>``: the skill is created with its id, then each file is stored
  as a reference (same checks and limits as an upload). A file missing on disk is reported and
  left out; the skill is still imported.
* G2 ``{id, slug}`` with the package at ``<data>/skills/<slug>/`` (``SKILL.md``, ``references/``,
  ``assets/``, ``scripts/``): read with the upload's rules (no symlinks, limits) and stored with
  the skill's id; name, description and instructions come from its ``SKILL.md``. The slug is one
  plain directory name (no ``/``, no ``..``): anything else is reported and skipped.
* Symbolic links below the data dir are never followed — a linked file, nor a linked ``skills/``,
  ``skills/<id>/`` or ``skills/<slug>/`` on the way to one (the data dir may be an unpacked
  archive from elsewhere): such a file is reported and left out, such a package skipped.

``source`` is Magec's data directory (where ``store.json`` lives); without it, G1 skills are
imported without their files and G2 skills are skipped (both reported). Skills reference nothing,
so they are imported before the agents that list them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rich.console import Console

from magec.errors import MagecError
from magec.skills import archive
from magec.skills.service import SkillService
from magec.store.store import Store

log = logging.getLogger(__name__)


def _report(console: Console | None, msg: str) -> None:
    log.warning(msg)
    if console:
        console.print(f"[yellow]{msg}[/yellow]")


async def import_skills(
    store: Store, items: list[Any], source: Path | None, console: Console | None = None
) -> int:
    """Import every skill of ``items`` (Magec's ``skills`` array); returns how many were imported."""
    service = SkillService(store)
    imported = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        label = item.get("name") or item.get("slug") or item.get("id")
        try:
            if item.get("slug"):
                if source is None:
                    raise MagecError(f"its package lives in Magec's data dir (skills/{item['slug']}/), which was not given")
                # one directory under skills/: a slug with ".." or an absolute path (which a Path
                # join takes as is) would read any directory on the disk into the skill
                slug = archive.check_filename(str(item["slug"]), "slug")
                root = source / "skills" / slug
                if not _no_link_below(source, root):
                    raise archive.bad(f"skills/{slug} is reached through a symbolic link", "slug")
                files = archive.read_directory(root)
                await service.save_package(archive.package_from_files(files), keep_id=str(item.get("id") or "") or None)
            else:
                await _inline(service, item, source, console)
            imported += 1
        except MagecError as e:
            _report(console, f"skipped skills {label!r}: {e}")
    return imported


def _no_link_below(source: Path | None, path: Path) -> bool:
    """Whether no component of ``path`` below ``source`` (``skills/``, ``skills/<id>/``, the file)
    is a symbolic link: the data dir may be an unpacked archive from elsewhere, and a linked
    directory on the way would read e.g. ``~/.ssh`` into a skill (links are never followed)."""
    if source is None:
        return False
    here = source
    for part in path.relative_to(source).parts:
        here = here / part
        if here.is_symlink():
            return False
    return True


async def _inline(service: SkillService, item: dict[str, Any], source: Path | None, console: Console | None) -> None:
    if item.get("id"):  # joined to a path below: one plain segment (the resource model says so too)
        archive.check_filename(str(item["id"]), "id")
    refs = item.get("references") or []
    if not isinstance(refs, list):  # before the skill is created: skipped whole, not half
        raise MagecError("references: must be a list")
    row = await service.create(item, keep_id=True)
    for ref in refs:
        name = str(ref.get("filename") or "") if isinstance(ref, dict) else ""
        path = source / "skills" / row["id"] / name if source is not None and name else None
        if path is None or not _no_link_below(source, path) or not path.is_file():
            _report(console, f"skill {row['name']!r}: reference file {name!r} not found in Magec's data dir; not imported")
            continue
        if path.stat().st_size > archive.MAX_FILE_BYTES:
            _report(console, f"skill {row['name']!r}: reference file {name!r} is over {archive.MAX_FILE_BYTES} bytes; not imported")
            continue
        try:
            await service.add_reference(row["id"], archive.check_filename(name), path.read_bytes())
        except MagecError as e:
            _report(console, f"skill {row['name']!r}: reference file {name!r} not imported: {e}")
