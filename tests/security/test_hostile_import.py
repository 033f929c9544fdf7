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

import gzip
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from magec.importer import import_store
from magec.testing.apps import running_apps

A = "/api/v1/admin"
G1_ID = "5a000000-0000-0000-0000-000000000001"


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


@pytest.mark.parametrize(("store", "said"), [
    ({"agents": 5, "skills": [{"id": "s1", "name": "Kept out", "description": "d", "instructions": "x"}]},
     "store.json: agents must be a list"),
    ({"skills": [{"id": "s1", "name": "Odd", "description": "d", "instructions": "x", "references": 5}]},
     "references: must be a list"),
])
async def test_a_store_json_of_wrong_shapes_is_refused_in_words(tmp_path: Path, store: dict[str, object],
                                                               said: str) -> None:
    """The operator runs ``magec import-magec`` on a file from elsewhere: a section or a skill's
    ``references`` that is no list ended the command with a Python traceback (``TypeError: 'int'
    object is not iterable``) after part of the file was written. Now it says what is wrong; a bad
    section is refused before anything is written, a bad skill is reported and skipped."""
    data = tmp_path / "magec-data"
    data.mkdir()
    (data / "store.json").write_text(json.dumps(store))
    (tmp_path / "config.yaml").write_text(f"dataDir: {tmp_path / 'magec'}\nserver: {{encryptionKey: k-test}}\n")
    done = subprocess.run([sys.executable, "-m", "magec", "import-magec", str(data / "store.json"),
                           "--config", str(tmp_path / "config.yaml")], capture_output=True, text=True, timeout=300)
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, out
    assert "Traceback" not in out and said in out, out
    async with running_apps(tmp_path / "magec", encryption_key="k-test") as apps:
        assert (await apps.admin.get(f"{A}/skills")).json() == []  # nothing half-imported


@pytest.mark.parametrize("linked", ["skills", "skills/<id>"])
async def test_a_symlinked_directory_in_magecs_data_dir_is_not_followed(tmp_path: Path, linked: str) -> None:
    """The data dir handed over with a store.json (an unpacked archive) may hold symbolic links.
    A linked *file* was refused, but a linked *directory* on the way to it was followed:
    ``skills/`` or ``skills/<id>/`` pointing at ``~/.ssh`` read its files into skills, for the Admin
    API to serve and agents to quote. Nothing below the data dir is followed now."""
    outside = tmp_path / "home"
    (outside / G1_ID).mkdir(parents=True)
    for where in (outside, outside / G1_ID):
        (where / "id_rsa").write_text("CANARY-private-key")
    pkg = outside / "keys"  # a G2 package reached through a linked skills/
    (pkg / "references").mkdir(parents=True)
    (pkg / "SKILL.md").write_text("---\nname: keys\ndescription: d\n---\nread references/id_rsa\n")
    (pkg / "references" / "id_rsa").write_text("CANARY-private-key")
    data = tmp_path / "magec-data"
    data.mkdir()
    if linked == "skills":
        (data / "skills").symlink_to(outside)
    else:
        (data / "skills").mkdir()
        (data / "skills" / G1_ID).symlink_to(outside)
    store = {"skills": [{"id": G1_ID, "name": "Catalog", "description": "d", "instructions": "Quote prices.",
                         "references": [{"filename": "id_rsa", "size": 18}]},
                        {"id": "5a000000-0000-0000-0000-000000000002", "slug": "keys"}]}
    async with running_apps(tmp_path / "magec") as apps:
        await import_store(apps.ctx.store, store, source=data)
        for skill in (await apps.admin.get(f"{A}/skills")).json():
            assert skill["id"] == G1_ID and skill["references"] == [], skill  # the G1 skill, without the file
            got = await apps.admin.get(f"{A}/skills/{skill['id']}/download")
            assert got.status_code == 200 and b"CANARY" not in gzip.decompress(got.content)
