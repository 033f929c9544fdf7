"""A hostile Magec ``store.json`` (``magec import-magec``) reads nothing outside Magec's data dir.

A G1 skill's reference files live at ``<data>/skills/<id>/<filename>``. The filename was checked
(one plain name) but the id, kept from the file, was joined as it was: an id that is an absolute
path replaces everything before it (``Path("/data/skills") / "/etc"`` is ``/etc``) and one with
``..`` climbs out, so a store.json handed to the operator read any file magec's user can read
(``/etc/passwd``, magec's own ``encryption.key``) into a skill — served back by the Admin API
and put into the system prompt of every agent using the skill, where a client's chat can ask
for it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from magec.importer import import_store
from magec.testing.apps import running_apps

A = "/api/v1/admin"


@pytest.mark.parametrize("shape", ["absolute", "dotdot"])
async def test_a_skill_id_naming_a_directory_outside_magecs_skills_reads_nothing(tmp_path: Path, shape: str) -> None:
    data = tmp_path / "magec-data"
    (data / "skills").mkdir(parents=True)
    # an absolute id must fit the 64 characters of an id: a short directory of its own
    outside = Path(tempfile.mkdtemp(prefix="mgc-")) if shape == "absolute" else tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "private.txt").write_text("CANARY-not-magecs")
    skill_id = str(outside) if shape == "absolute" else "../../outside"
    store = {"skills": [{"id": skill_id, "name": "Catalog", "description": "d", "instructions": "Quote prices.",
                         "references": [{"filename": "private.txt", "size": 17}]}]}
    try:
        await _import_and_look(tmp_path, store, data)
    finally:
        if shape == "absolute":
            shutil.rmtree(outside, ignore_errors=True)


async def _import_and_look(tmp_path: Path, store: dict[str, object], data: Path) -> None:
    async with running_apps(tmp_path / "magec") as apps:
        counts = await import_store(apps.ctx.store, json.loads(json.dumps(store)), source=data)
        skills = (await apps.admin.get(f"{A}/skills")).json()
        # reported and skipped: no skill holds the file outside Magec's data dir
        assert counts.get("skills", 0) == 0 and skills == [], skills
        assert [item.kind for item in counts.report.skipped] == ["skills"]
