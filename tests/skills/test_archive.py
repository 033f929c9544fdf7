"""The archive reader's rules, without a server: entry kinds, path forms, limits and round trips."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from magec.errors import PayloadTooLargeError, ValidationError
from magec.skills import archive

from .helpers import GUIDE, SKILL_MD, make_tgz, make_zip


def tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("SKILL.md")
        info.size = len(SKILL_MD)
        tf.addfile(info, io.BytesIO(SKILL_MD))
        tf.addfile(member, io.BytesIO(data) if data else None)
    return buf.getvalue()


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_tar_devices_and_fifos_are_refused(kind: bytes) -> None:
    member = tarfile.TarInfo("assets/dev")
    member.type = kind
    with pytest.raises(ValidationError, match="only regular files") as e:
        archive.read_upload("a.tgz", tar_with(member))
    assert e.value.field == "file"


@pytest.mark.parametrize("path", ["C:/win.ini", "assets\\x.txt", "assets/a\x01b", "/abs/SKILL.md",
                                  "assets/../../x", "./../x"])
def test_path_forms_are_refused(path: str) -> None:
    with pytest.raises(ValidationError) as e:
        archive.read_upload("a.zip", make_zip({"SKILL.md": SKILL_MD, path: b"x"}))
    assert e.value.field == "file"


def test_duplicate_entries_after_normalising_are_refused() -> None:
    with pytest.raises(ValidationError, match="twice"):
        archive.read_upload("a.zip", make_zip({"SKILL.md": SKILL_MD, "./SKILL.md": SKILL_MD}))


def test_one_top_folder_is_stripped_and_os_junk_ignored() -> None:
    pkg = archive.read_upload("a.tgz", make_tgz({"x/SKILL.md": SKILL_MD, "x/references/guide.md": GUIDE,
                                                  "x/.DS_Store": b"junk"}))
    assert sorted(pkg.files) == ["SKILL.md", "references/guide.md"]
    assert pkg.name == "pdf-tricks" and "PAPYRUS" in pkg.body


def test_declared_tar_size_over_the_file_limit_is_413_before_reading() -> None:
    member = tarfile.TarInfo("assets/big")
    member.size = archive.MAX_FILE_BYTES + 1
    data = b"\0" * member.size
    with pytest.raises(PayloadTooLargeError) as e:
        archive.read_upload("a.tgz", tar_with(member, data))
    assert getattr(e.value, "field", None) == "file"


def test_download_round_trips_and_inline_skills_become_packages() -> None:
    files = {"SKILL.md": SKILL_MD, "references/guide.md": GUIDE}
    back = archive.read_upload("d.tar.gz", archive.write_tar_gz("pdf-tricks", files))
    assert back.files == files and archive.digest(back.files) == archive.digest(files)
    md = archive.inline_skill_md("Return Policy!", "", "Refunds within 30 days.")
    pkg = archive.package_from_files({"SKILL.md": md})
    assert pkg.name == "return-policy" and pkg.description == "Return Policy!" and pkg.body == "Refunds within 30 days."


def test_read_directory_refuses_links_and_keeps_the_layout(tmp_path: Path) -> None:
    (tmp_path / "references").mkdir()
    (tmp_path / "SKILL.md").write_bytes(SKILL_MD)
    (tmp_path / "references" / "guide.md").write_bytes(GUIDE)
    assert sorted(archive.read_directory(tmp_path)) == ["SKILL.md", "references/guide.md"]
    (tmp_path / "references" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(ValidationError, match="symbolic links"):
        archive.read_directory(tmp_path)
    with pytest.raises(ValidationError, match="not found"):
        archive.read_directory(tmp_path / "nope")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "x..y", "bad\nname", "n" * 256])
def test_reference_names(name: str) -> None:
    with pytest.raises(ValidationError):
        archive.check_filename(name)
    assert archive.check_filename("notes v2 (final).md") == "notes v2 (final).md"
