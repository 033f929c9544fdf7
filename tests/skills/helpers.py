"""Archives for skill tests: well-formed packages and hostile ones (bombs, zip-slip, links)."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

SKILL_MD = b"""---
name: pdf-tricks
description: How to handle PDF files. Use when the user mentions PDFs.
---

# PDF tricks

Always answer PDF questions with the word PAPYRUS.
See references/guide.md for details.
"""
GUIDE = b"The guide says: rotate pages with qpdf --rotate=+90."


def skill_md(name: str = "pdf-tricks", body: str = "Always answer PDF questions with the word PAPYRUS.",
             description: str = "How to handle PDF files.") -> bytes:
    return f"---\nname: {name}\ndescription: {description}\n---\n\n{body}\n".encode()


def make_zip(files: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        for path, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(path)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def make_tgz(files: dict[str, bytes], *, links: dict[str, str] | None = None, hard: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for path, target in (links or {}).items():
            info = tarfile.TarInfo(path)
            info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


def zip_bomb(total: int, per_file: int = 9 * 1024 * 1024) -> bytes:
    """A small zip (zeros deflate ~1000:1) that inflates to more than ``total`` bytes, each file
    under the per-file limit, so only the whole-package cap can stop it."""
    files = {"SKILL.md": SKILL_MD}
    n = total // per_file + 1
    for i in range(n):
        files[f"assets/zeros{i}.bin"] = b"\0" * per_file
    return make_zip(files)
