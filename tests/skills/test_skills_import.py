"""``magec import-magec`` brings Magec's skills over with their files: G1 inline skills with
reference files from ``data/skills/<id>/``, G2 packages from ``data/skills/<slug>/``; agents keep
their ``skills`` and use them at once; what cannot be read (a missing file, a symlink) is reported,
never silently dropped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from magec.importer import import_store
from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer

from .helpers import GUIDE, SKILL_MD
from .test_skills_agents import chats, run, system_text, tool_results

A = "/api/v1/admin"
G1 = "5a000000-0000-0000-0000-000000000001"
G2 = "5a000000-0000-0000-0000-000000000002"
AGENT = "a0000000-0000-0000-0000-000000000001"


def magec_data_dir(root: Path, llm_url: str) -> Path:
    data = root / "magec-data"
    (data / "skills" / G1).mkdir(parents=True)
    (data / "skills" / G1 / "catalog.csv").write_text("sku,price\nA1,10\n")
    pkg = data / "skills" / "pdf-tricks"
    (pkg / "references").mkdir(parents=True)
    (pkg / "SKILL.md").write_bytes(SKILL_MD)
    (pkg / "references" / "guide.md").write_bytes(GUIDE)
    store = {
        "backends": [{"id": "b1", "name": "llm", "type": "openai", "url": llm_url + "/v1", "apiKey": "sk-test"}],
        "skills": [
            {"id": G1, "name": "Catalog", "description": "Products", "instructions": "Quote prices from the catalog.",
             "references": [{"filename": "catalog.csv", "size": 16}, {"filename": "gone.pdf", "size": 5}]},
            {"id": G2, "slug": "pdf-tricks"},
        ],
        "agents": [{"id": AGENT, "name": "Seller", "llm": {"backend": "b1", "model": "m-1"}, "skills": [G1, G2]}],
    }
    (data / "store.json").write_text(json.dumps(store))
    return data


async def test_import_skills_g1_and_g2(tmp_path: Path, llm: FakeServer) -> None:
    data = magec_data_dir(tmp_path, llm.url)
    async with running_apps(tmp_path / "magec") as apps:
        counts = await import_store(apps.ctx.store, json.loads((data / "store.json").read_text()), source=data)
        assert counts["skills"] == 2 and counts["agents"] == 1

        g1: dict[str, Any] = (await apps.admin.get(f"{A}/skills/{G1}")).json()
        assert g1["instructions"] == "Quote prices from the catalog."
        assert [(r["filename"], r["size"]) for r in g1["references"]] == [("catalog.csv", 16)]  # gone.pdf: reported
        assert (await apps.admin.get(f"{A}/skills/{G1}/references/catalog.csv")).content == b"sku,price\nA1,10\n"
        g2 = (await apps.admin.get(f"{A}/skills/{G2}")).json()
        assert g2["slug"] == "pdf-tricks" and g2["name"] == "pdf-tricks" and "PAPYRUS" in g2["instructions"]
        assert (await apps.admin.get(f"{A}/agents/{AGENT}")).json()["skills"] == [G1, G2]

        # the imported agent uses both at once
        events = await run(apps, AGENT, 'call load_skill_resource {"skill_name": "pdf-tricks", '
                                        '"file_path": "references/guide.md"}')
        assert "[Reference: catalog.csv]\nsku,price" in system_text(chats(llm)[0])
        assert tool_results(events)[0]["content"] == GUIDE.decode()


async def test_import_without_files_reports_instead_of_dropping(tmp_path: Path, llm: FakeServer) -> None:
    data = magec_data_dir(tmp_path, llm.url)
    (data / "skills" / "pdf-tricks" / "references" / "link.md").symlink_to("/etc/passwd")
    async with running_apps(tmp_path / "magec") as apps:
        counts = await import_store(apps.ctx.store, json.loads((data / "store.json").read_text()), source=data)
        # the package with a symlink is refused (reported), the inline skill is imported
        assert counts["skills"] == 1
        assert [s["id"] for s in (await apps.admin.get(f"{A}/skills")).json()] == [G1]


def test_cli_reports_skill_counts(tmp_path: Path, llm: FakeServer) -> None:
    data = magec_data_dir(tmp_path, llm.url)
    (tmp_path / "config.yaml").write_text(f"dataDir: {tmp_path / 'magec'}\nserver: {{encryptionKey: k-test}}\n")
    done = subprocess.run([sys.executable, "-m", "magec", "import-magec", str(data / "store.json"),
                           "--config", str(tmp_path / "config.yaml")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = " ".join((done.stdout + done.stderr).split())
    assert "2 skills" in out and "1 agents" in out
    assert "gone.pdf" in out  # the missing reference file is named, not silently dropped


async def test_a_slug_naming_a_directory_outside_magecs_skills_is_refused(tmp_path: Path, llm: FakeServer) -> None:
    """A G2 skill's package is ``<data>/skills/<slug>/``: a slug with ``..`` or an absolute path
    (``/`` joined to a path replaces it) read any directory holding a SKILL.md into the skill — its
    files then served by the Admin API and given to agents — and ``/`` walked the whole disk."""
    data = magec_data_dir(tmp_path, llm.url)
    outside = tmp_path / "outside-pkg"
    (outside / "references").mkdir(parents=True)
    (outside / "SKILL.md").write_bytes(SKILL_MD)
    (outside / "references" / "private.md").write_text("not Magec's")
    store = json.loads((data / "store.json").read_text())
    store["skills"][1:] = [{"id": G2, "slug": "../../outside-pkg"},
                           {"id": "5a000000-0000-0000-0000-000000000003", "slug": str(outside)}]
    store["agents"][0]["skills"] = [G1]
    async with running_apps(tmp_path / "magec") as apps:
        counts = await import_store(apps.ctx.store, store, source=data)
        assert counts["skills"] == 1
        assert [s["id"] for s in (await apps.admin.get(f"{A}/skills")).json()] == [G1]
