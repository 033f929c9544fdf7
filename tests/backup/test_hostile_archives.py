"""A hostile backup archive is refused by what it unpacks to, not by what its headers claim.

Only whoever holds the admin password can restore, but an archive is a file from somewhere: a
downloaded "backup", a compromised storage bucket. A gzip stream unpacks to about 1,000 times its
size, so a small upload can hold gigabytes: in entries the reader skips (it decompressed every
byte of them to reach the next one), in a GNU long-name or pax header (which tarfile reads whole
into memory), or in millions of empty entries (a header object each). The restore counts every
unpacked byte as it reads (the tar stream itself, headers included) against four times the upload
limit, and at most 100,000 entries: beyond either, 400 naming ``backup`` and the bound.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from magec.testing.apps import running_apps
from tests.backup.helpers import restore

LIMIT = 64 * 1024  # the upload limit; the archive may unpack to 4 × this


def gz(tar: bytes) -> bytes:
    return gzip.compress(tar, compresslevel=9)


def tar_of(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def test_skipped_entry_counts(tmp_path: Path) -> None:
    """8 MB of zeros under a name the reader skips (a Magec archive's skill file)."""
    archive = gz(tar_of([(tarfile.TarInfo("skills/x/blob.bin"), b"\0" * (8 << 20))]))
    assert len(archive) < LIMIT
    async with running_apps(tmp_path / "a", config={"backup_limit_bytes": LIMIT}) as a:
        r = await restore(a, archive)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "backup" and "unpacks to more than" in r.json()["error"], r.text


async def test_long_name_header_counts(tmp_path: Path) -> None:
    """A GNU long-name header whose name is 8 MB: read whole by tarfile before any check."""
    archive = gz(tar_of([(tarfile.TarInfo("x" * (8 << 20)), b"")]))
    assert len(archive) < LIMIT
    async with running_apps(tmp_path / "a", config={"backup_limit_bytes": LIMIT}) as a:
        r = await restore(a, archive)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "backup" and "unpacks to more than" in r.json()["error"], r.text


async def test_entry_count_is_bounded(tmp_path: Path) -> None:
    """100,001 empty entries (51 MB of headers, within the byte bound of a 100 MB upload)."""
    header = tarfile.TarInfo("empty").tobuf(format=tarfile.USTAR_FORMAT)  # one 512-byte block
    archive = gzip.compress(header * 100_001 + b"\0" * 1024, compresslevel=1)
    async with running_apps(tmp_path / "a", config={"backup_limit_bytes": 100 << 20}) as a:
        r = await restore(a, archive)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "backup" and "100000 entries" in r.json()["error"], r.text
