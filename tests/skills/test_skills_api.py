"""The skills Admin API in Magec's shapes: CRUD, reference files, package upload/download, limits,
hostile archives (4xx naming the field), delete guard (409 / force) and the upload guard."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import httpx

from magec.skills import archive
from magec.testing.apps import Apps

from .helpers import GUIDE, SKILL_MD, make_tgz, make_zip, skill_md, zip_bomb

A = "/api/v1/admin"


async def upload(apps: Apps, path: str, name: str, data: bytes, **kw: Any) -> httpx.Response:
    return await apps.admin.post(f"{A}{path}", files={"file": (name, data)}, **kw)


def pairs(refs: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(filename, size) of Magec's reference entries (magec adds a content ``digest``)."""
    return [(r["filename"], r["size"]) for r in refs]


async def inline_skill(apps: Apps, **extra: Any) -> dict[str, Any]:
    r = await apps.admin.post(f"{A}/skills", json={"name": "Returns", "description": "Return policy",
                                                  "instructions": "Returns within 30 days.", **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def test_list_is_a_list_not_404(apps: Apps) -> None:
    r = await apps.admin.get(f"{A}/skills")
    assert r.status_code == 200 and r.json() == []
    kinds = {k["kind"]: k["path"] for k in (await apps.admin.get(f"{A}/kinds")).json()}
    assert kinds["skills"] == "skills"


async def test_inline_crud_and_references(apps: Apps) -> None:
    sk = await inline_skill(apps, references=[{"filename": "forged.txt", "size": 1}], slug="x")
    sid = sk["id"]
    assert sk["name"] == "Returns" and sk["instructions"] == "Returns within 30 days."
    assert sk["references"] == [] and sk["slug"] == ""  # server-managed fields ignored on create

    # instructions are required (Magec), the 400 names the field
    r = await apps.admin.post(f"{A}/skills", json={"name": "x"})
    assert r.status_code == 400 and r.json()["field"] == "instructions"

    r = await upload(apps, f"/skills/{sid}/references", "policy.md", b"# Policy\nNo refunds on software.")
    assert r.status_code == 201 and pairs([r.json()]) == [("policy.md", 32)] and r.json()["digest"]
    r = await upload(apps, f"/skills/{sid}/references", "policy.md", b"again")
    assert r.status_code == 409
    assert pairs((await apps.admin.get(f"{A}/skills/{sid}/references")).json()) == [("policy.md", 32)]

    r = await apps.admin.get(f"{A}/skills/{sid}/references/policy.md")
    assert r.status_code == 200 and r.content == b"# Policy\nNo refunds on software."
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith('attachment; filename="policy.md"')
    assert (await apps.admin.get(f"{A}/skills/{sid}/references/nope.md")).status_code == 404

    # PUT keeps the references (the UI never sends them)
    r = await apps.admin.put(f"{A}/skills/{sid}", json={"name": "Returns v2", "description": "",
                                                         "instructions": "Returns within 15 days."})
    assert r.status_code == 200, r.text
    assert pairs(r.json()["references"]) == [("policy.md", 32)]
    got = (await apps.admin.get(f"{A}/skills/{sid}")).json()
    assert got["name"] == "Returns v2" and got["instructions"] == "Returns within 15 days."
    assert [s["id"] for s in (await apps.admin.get(f"{A}/skills")).json()] == [sid]

    # download as a package: SKILL.md + references/
    r = await apps.admin.get(f"{A}/skills/{sid}/download")
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tf:
        names = sorted(tf.getnames())
        assert names == ["returns-v2/SKILL.md", "returns-v2/references/policy.md"]
        md = tf.extractfile("returns-v2/SKILL.md").read().decode()  # type: ignore[union-attr]
    assert "name: returns-v2" in md and "Returns within 15 days." in md

    # same name, same size, other content: the row changes with the content (so does every
    # fingerprint built from it, on every replica, even when a rebuild sees only the final row)
    before = (await apps.admin.get(f"{A}/skills/{sid}")).json()["references"]
    assert (await apps.admin.delete(f"{A}/skills/{sid}/references/policy.md")).status_code == 204
    await upload(apps, f"/skills/{sid}/references", "policy.md", b"# Policy\nNo refunds on hardware.")
    after = (await apps.admin.get(f"{A}/skills/{sid}")).json()["references"]
    assert pairs(after) == pairs(before) and after != before

    assert (await apps.admin.delete(f"{A}/skills/{sid}/references/policy.md")).status_code == 204
    assert (await apps.admin.get(f"{A}/skills/{sid}")).json()["references"] == []
    assert (await apps.admin.get(f"{A}/skills/{sid}/references/policy.md")).status_code == 404
    assert (await apps.admin.delete(f"{A}/skills/{sid}/references/policy.md")).status_code == 404

    assert (await apps.admin.delete(f"{A}/skills/{sid}")).status_code == 204
    assert (await apps.admin.get(f"{A}/skills/{sid}")).status_code == 404
    assert (await upload(apps, f"/skills/{sid}/references", "a.md", b"x")).status_code == 404


async def test_reference_names_and_limits(apps: Apps) -> None:
    sid = (await inline_skill(apps))["id"]
    for bad in ("../etc/passwd", "a/b.md", "..", "x\\y.md"):
        r = await upload(apps, f"/skills/{sid}/references", bad, b"x")
        assert r.status_code == 400 and r.json()["field"] == "file", (bad, r.text)
    r = await apps.admin.delete(f"{A}/skills/{sid}/references/..evil")
    assert r.status_code == 400 and r.json()["field"] == "filename"
    # over the per-file limit: 413 naming the field
    r = await upload(apps, f"/skills/{sid}/references", "big.bin", b"x" * (archive.MAX_FILE_BYTES + 1))
    assert r.status_code == 413 and r.json()["field"] == "file", r.text
    # no file / not multipart
    r = await apps.admin.post(f"{A}/skills/{sid}/references", files={"other": ("a", b"x")})
    assert r.status_code == 400 and r.json()["field"] == "file"
    r = await apps.admin.post(f"{A}/skills/{sid}/references", json={"file": "x"})
    assert r.status_code == 400 and r.json()["field"] == "file"
    assert (await apps.admin.get(f"{A}/skills/{sid}")).json()["references"] == []


async def test_cross_site_uploads_are_refused(apps: Apps) -> None:
    """multipart is a 'simple' type a form can post cross-site: the guard's Origin rule stops it."""
    sid = (await inline_skill(apps))["id"]
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        r = await upload(apps, f"/skills/{sid}/references", "a.md", b"x", headers=headers)
        assert r.status_code == 403, (headers, r.text)
        r = await upload(apps, "/skills/upload", "SKILL.md", SKILL_MD, headers=headers)
        assert r.status_code == 403
    # other admin writes still take JSON only
    r = await apps.admin.post(f"{A}/skills", files={"file": ("a", b"x")})
    assert r.status_code == 415
    # an upload route's refusal names what it takes
    r = await apps.admin.post(f"{A}/skills/upload", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"].startswith("Content-Type must be multipart/form-data, got")
    # same-origin browser upload passes
    r = await upload(apps, f"/skills/{sid}/references", "a.md", b"x",
                     headers={"Origin": "http://admin", "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 201
    assert pairs((await apps.admin.get(f"{A}/skills")).json()[0]["references"]) == [("a.md", 1)]


async def test_package_upload_replace_download(apps: Apps) -> None:
    z = make_zip({"pdf-tricks/SKILL.md": SKILL_MD, "pdf-tricks/references/guide.md": GUIDE,
                  "pdf-tricks/scripts/run.sh": b"echo hi", "__MACOSX/._SKILL.md": b"junk"})
    r = await upload(apps, "/skills/upload", "pdf-tricks.zip", z)
    assert r.status_code == 201, r.text
    sk = r.json()
    assert sk["slug"] == "pdf-tricks" and sk["name"] == "pdf-tricks"
    assert sk["description"].startswith("How to handle PDF files")
    assert "PAPYRUS" in sk["instructions"]
    assert [f["path"] for f in sk["package"]["files"]] == ["SKILL.md", "references/guide.md", "scripts/run.sh"]

    # the same name again: 409 unless ?replace=true, which keeps the id
    assert (await upload(apps, "/skills/upload", "pdf.zip", z)).status_code == 409
    tgz = make_tgz({"SKILL.md": skill_md(body="Say VELLUM now."), "assets/t.txt": b"tpl"})
    r = await upload(apps, "/skills/upload?replace=true", "pdf.tar.gz", tgz)
    assert r.status_code == 200 and r.json()["id"] == sk["id"]
    assert r.json()["instructions"] == "Say VELLUM now."
    assert [f["path"] for f in r.json()["package"]["files"]] == ["SKILL.md", "assets/t.txt"]

    # a bare SKILL.md is a package too
    r = await upload(apps, "/skills/upload", "SKILL.md", skill_md(name="tiny"))
    assert r.status_code == 201 and r.json()["slug"] == "tiny"

    digest = (await apps.admin.get(f"{A}/skills/{sk['id']}")).json()["package"]["digest"]
    r = await apps.admin.get(f"{A}/skills/{sk['id']}/download")
    assert r.headers["content-disposition"].startswith('attachment; filename="pdf-tricks.tar.gz"')
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tf:
        assert sorted(tf.getnames()) == ["pdf-tricks/SKILL.md", "pdf-tricks/assets/t.txt"]
    # the download uploads back: the same files (same digest), the same id
    r2 = await upload(apps, "/skills/upload?replace=true", "back.tar.gz", r.content)
    assert r2.status_code == 200 and r2.json()["id"] == sk["id"] and r2.json()["package"]["digest"] == digest

    # editing a package skill rewrites its SKILL.md (the slug stays)
    r = await apps.admin.put(f"{A}/skills/{sk['id']}", json={"name": "PDF", "description": "PDF help",
                                                              "instructions": "Say PARCHMENT."})
    assert r.status_code == 200, r.text
    assert r.json()["slug"] == "pdf-tricks" and r.json()["description"] == "PDF help"
    r = await apps.admin.get(f"{A}/skills/{sk['id']}/download")
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tf:
        md = tf.extractfile("pdf-tricks/SKILL.md").read().decode()  # type: ignore[union-attr]
    assert "name: pdf-tricks" in md and "description: PDF help" in md and "Say PARCHMENT." in md


async def test_bad_packages_are_4xx_naming_the_field(apps: Apps) -> None:
    cases: dict[str, tuple[str, bytes, int, str]] = {
        "zip-slip": ("a.zip", make_zip({"SKILL.md": SKILL_MD, "../evil.md": b"x"}), 400, "'..'"),
        "absolute": ("a.zip", make_zip({"SKILL.md": SKILL_MD, "/etc/passwd": b"x"}), 400, "absolute"),
        "tar-slip": ("a.tgz", make_tgz({"SKILL.md": SKILL_MD, "references/../../x": b"x"}), 400, "'..'"),
        "zip-symlink": ("a.zip", make_zip({"SKILL.md": SKILL_MD}, symlinks={"references/l": "/etc/passwd"}),
                        400, "symbolic link"),
        "tar-symlink": ("a.tgz", make_tgz({"SKILL.md": SKILL_MD}, links={"references/l": "/etc/passwd"}),
                        400, "links"),
        "tar-hardlink": ("a.tgz", make_tgz({"SKILL.md": SKILL_MD}, links={"references/l": "SKILL.md"}, hard=True),
                         400, "links"),
        "no SKILL.md": ("a.zip", make_zip({"references/a.md": b"x"}), 400, "no SKILL.md"),
        "stray file": ("a.zip", make_zip({"SKILL.md": SKILL_MD, "run.py": b"x"}), 400, "run.py"),
        "no frontmatter": ("SKILL.md", b"# just markdown", 400, "SKILL.md"),
        "bad name": ("SKILL.md", skill_md(name="Not Kebab"), 400, "name"),
        "no description": ("SKILL.md", b"---\nname: a\n---\nbody", 400, "description"),
        "not an archive": ("a.zip", b"PKnot really", 400, "zip"),
        "gzip garbage": ("a.tgz", b"\x1f\x8b\x08\x00garbage", 400, "tar.gz"),
        "random bytes": ("a.bin", b"\x00\x01\x02", 400, "SKILL.md"),
        "zip bomb": ("a.zip", zip_bomb(archive.MAX_PACKAGE_BYTES + 1), 413, "decompressed"),
        "tgz bomb": ("a.tgz", make_tgz({"SKILL.md": SKILL_MD, "assets/z": b"\0" * (archive.MAX_FILE_BYTES + 1)}),
                     413, "larger than"),
        "too many files": ("a.zip", make_zip({"SKILL.md": SKILL_MD, **{f"assets/{i}": b"" for i in range(archive.MAX_FILES)}}),
                           413, "entries"),
    }
    for what, (name, data, status, words) in cases.items():
        r = await upload(apps, "/skills/upload", name, data)
        assert r.status_code == status, (what, r.text)
        assert r.json()["field"] == "file" and words in r.json()["error"], (what, r.json())
    assert (await apps.admin.get(f"{A}/skills")).json() == []


async def test_a_yaml_bomb_frontmatter_is_a_400_not_minutes_of_cpu(apps: Apps) -> None:
    """~430 bytes of SKILL.md: seven levels of nine aliases to the level before are 9⁷ values once
    expanded (seconds of CPU and ~100 MB; nine levels took the process's memory). Anchors and
    aliases are refused before anything is expanded: a 400 naming ``file``, at once."""
    levels = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 7)]
    bomb = ("---\nname: bomb\ndescription: d\nmetadata:\n  " + "\n  ".join(levels) + "\n---\n\nbody\n").encode()
    for name, data in (("SKILL.md", bomb), ("a.zip", make_zip({"SKILL.md": bomb}))):
        r = await upload(apps, "/skills/upload", name, data)
        assert r.status_code == 400, (name, r.status_code, r.text[:200])
        assert r.json()["field"] == "file" and "aliases" in r.json()["error"], r.json()
    # an ordinary frontmatter with a list and a mapping is still read as before
    plain = b"---\nname: plain\ndescription: d\nmetadata:\n  tags: [a, b]\n  owner: {team: x}\n---\n\nbody\n"
    r = await upload(apps, "/skills/upload", "SKILL.md", plain)
    assert r.status_code == 201, r.text


async def test_delete_guard_409_and_force(apps: Apps) -> None:
    sid = (await inline_skill(apps))["id"]
    b = (await apps.admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": "http://127.0.0.1:9"})).json()
    r = await apps.admin.post(f"{A}/agents", json={"name": "Ag", "llm": {"backend": b["id"], "model": "m"},
                                                   "skills": [sid]})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    # an unknown skill id is refused on save, naming the field
    r = await apps.admin.put(f"{A}/agents/{aid}", json={"name": "Ag", "llm": {"backend": b["id"], "model": "m"},
                                                        "skills": [sid, "nope"]})
    assert r.status_code == 400 and r.json()["field"] == "skills[1]", r.text
    r = await apps.admin.delete(f"{A}/skills/{sid}")
    assert r.status_code == 409
    assert r.json()["references"][0]["referrerId"] == aid and r.json()["references"][0]["field"].startswith("skills")
    assert (await apps.admin.delete(f"{A}/skills/{sid}?force=true")).status_code == 204
    assert (await apps.admin.get(f"{A}/agents/{aid}")).json()["skills"] == []
