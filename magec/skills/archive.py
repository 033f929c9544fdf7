"""Limits, the ``SKILL.md`` parser, the archive reader and the tar.gz writer of skills.

Contract:

* :func:`read_upload` turns an uploaded file (``SKILL.md`` alone, ``.zip``, ``.tar.gz`` / ``.tgz``;
  recognised by content, the file name only breaks ties) into a :class:`Package`, or raises a 4xx
  :class:`~magec.errors.MagecError` whose ``field`` is ``file`` and whose message names the entry.
* Nothing from an archive touches the file system: entries are read into memory under hard
  limits — :data:`MAX_FILE_BYTES` per file, :data:`MAX_PACKAGE_BYTES` for everything
  decompressed (counted while decompressing, never trusting the archive's declared sizes, so a
  zip or gzip bomb stops at the cap), :data:`MAX_FILES` entries.
* Paths are checked as data (the "zip-slip" rules even though nothing is extracted): no absolute
  paths, drive letters or backslashes, no ``..``, no control characters; symlinks, hard links and
  device entries are refused; encrypted zip entries are refused. A package whose files all sit in
  one top directory (``my-skill/SKILL.md``) has that directory stripped. ``__MACOSX/`` and
  ``.DS_Store`` are ignored; any other file must be ``SKILL.md`` or under ``references/``,
  ``assets/`` or ``scripts/`` (ADK's package layout).
* ``SKILL.md`` needs YAML frontmatter with ``name`` (kebab-case, at most 64 characters: the name
  the model loads the skill by) and ``description`` — checked with ADK's own ``Frontmatter`` model.
  YAML aliases (``*name``) are refused: expanded, a few hundred bytes of them are billions of values.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from magec.errors import PayloadTooLargeError, ValidationError

#: one reference file or package file
MAX_FILE_BYTES = 10 * 1024 * 1024
#: a whole package, decompressed (and an uploaded archive); also the reference files of one skill
MAX_PACKAGE_BYTES = 50 * 1024 * 1024
#: files in one package, or reference files of one skill
MAX_FILES = 500
MAX_PATH = 512
#: reference text inlined into an agent's instruction, per inline skill (the rest is cut, with a note)
INLINE_BYTES = 64 * 1024

SKILL_MD = "SKILL.md"
AREAS = ("references/", "assets/", "scripts/")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IGNORED_DIRS = ("__MACOSX/",)
_IGNORED_NAMES = (".DS_Store",)


@dataclass
class Package:
    """A checked ``SKILL.md`` package: frontmatter, body and every file (``SKILL.md`` included)."""

    name: str
    description: str
    body: str
    frontmatter: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.files.values())


class FileTooLarge(PayloadTooLargeError):
    """413 naming the field (like :class:`~magec.errors.ValidationError`'s ``field``)."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.field = field


def too_large(message: str, where: str = "file") -> PayloadTooLargeError:
    return FileTooLarge(f"{where}: {message}", where)


def bad(message: str, where: str = "file") -> ValidationError:
    return ValidationError(f"{where}: {message}", field=where)


def digest(files: Mapping[str, bytes]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(files):
        h.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return h.hexdigest()


# -- names and paths -----------------------------------------------------------------------------
def check_filename(name: str, where: str = "file") -> str:
    """A reference file name: one path segment, printable, no ``..`` (Magec's rule, stricter)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or ".." in name:
        raise bad(f"invalid filename {name!r}: a plain file name is required", where)
    if _CONTROL.search(name) or len(name) > 255:
        raise bad("invalid filename: control characters or over 255 characters", where)
    return name


def _check_path(raw: str) -> str | None:
    """A package entry's path, normalised; None for an entry to ignore (directories, OS junk)."""
    if _CONTROL.search(raw):
        raise bad(f"entry {raw!r}: control characters in the path")
    if "\\" in raw:
        raise bad(f"entry {raw!r}: backslashes are not allowed in paths")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise bad(f"entry {raw!r}: absolute paths are not allowed")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise bad(f"entry {raw!r}: '..' is not allowed in paths")
    if not parts or raw.endswith("/"):
        return None
    path = "/".join(parts)
    if len(path) > MAX_PATH:
        raise bad(f"entry {path[:60]!r}…: path longer than {MAX_PATH} characters")
    if path.startswith(_IGNORED_DIRS) or parts[-1] in _IGNORED_NAMES:
        return None
    return path


def _layout(files: dict[str, bytes]) -> dict[str, bytes]:
    """Strip one shared top directory, then require ADK's layout."""
    if SKILL_MD not in files:
        tops = {p.split("/", 1)[0] for p in files}
        if len(tops) == 1 and all("/" in p for p in files):
            top = tops.pop() + "/"
            files = {p[len(top):]: b for p, b in files.items()}
    if SKILL_MD not in files:
        raise bad("the package has no SKILL.md at its root")
    for path in files:
        if path != SKILL_MD and not path.startswith(AREAS):
            raise bad(f"entry {path!r}: a package holds SKILL.md and references/, assets/, scripts/ only")
    return files


# -- SKILL.md --------------------------------------------------------------------------------------
class _AliasRefused(Exception):
    pass


class _FrontmatterLoader(yaml.SafeLoader):
    """``yaml.safe_load`` without aliases. An alias is a reference to an earlier node, so nine
    nested lists of nine aliases are ~400 bytes of YAML and 9⁹ values once ADK's ``Frontmatter``
    dumps them (and again when the row is stored as JSON): a SKILL.md of half a kilobyte held the
    process for seconds (7 levels) or took all its memory (9). No frontmatter field needs one."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise _AliasRefused
        return super().compose_node(parent, index)


def parse_skill_md(raw: bytes) -> tuple[dict[str, Any], str]:
    """(frontmatter, body) of a ``SKILL.md``; 400 naming ``file`` when it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad("SKILL.md is not valid UTF-8") from None
    text = text.lstrip("\ufeff")
    match = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)(.*)$", text, flags=re.S)
    if match is None:
        raise bad("SKILL.md must start with YAML frontmatter between '---' lines")
    try:
        meta = yaml.load(match.group(1), Loader=_FrontmatterLoader)  # a SafeLoader
    except _AliasRefused:
        raise bad("SKILL.md frontmatter may not use YAML aliases (*name)") from None
    except yaml.YAMLError as e:
        raise bad(f"SKILL.md frontmatter is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(meta, dict):
        raise bad("SKILL.md frontmatter must be a YAML mapping")
    from google.adk.skills import Frontmatter
    from pydantic import ValidationError as PydanticError

    try:
        checked = Frontmatter.model_validate(meta)
    except PydanticError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or "frontmatter"
        raise bad(f"SKILL.md {loc}: {first.get('msg', 'invalid')}") from None
    return checked.model_dump(by_alias=True, exclude_none=True), match.group(2).strip()


def package_from_files(files: dict[str, bytes]) -> Package:
    files = _layout(files)
    meta, body = parse_skill_md(files[SKILL_MD])
    return Package(name=meta["name"], description=meta["description"], body=body, frontmatter=meta, files=files)


# -- reading uploads -------------------------------------------------------------------------------
class _Budget:
    """Counts decompressed bytes and entries across one archive."""

    def __init__(self) -> None:
        self.total = 0
        self.entries = 0

    def entry(self) -> None:
        self.entries += 1
        if self.entries > MAX_FILES:
            raise too_large(f"the archive has more than {MAX_FILES} entries")

    def add(self, n: int) -> None:
        self.total += n
        if self.total > MAX_PACKAGE_BYTES:
            raise too_large(f"the package is larger than {MAX_PACKAGE_BYTES} bytes decompressed")


def _read_capped(stream: Any, path: str, budget: _Budget) -> bytes:
    out = bytearray()
    while True:
        chunk = stream.read(64 * 1024)
        if not chunk:
            return bytes(out)
        out += chunk
        budget.add(len(chunk))
        if len(out) > MAX_FILE_BYTES:
            raise too_large(f"entry {path!r} is larger than {MAX_FILE_BYTES} bytes")


def _add(files: dict[str, bytes], raw_name: str, data: bytes) -> None:
    path = _check_path(raw_name)
    if path is None:
        return
    if path in files:
        raise bad(f"entry {path!r} appears twice")
    files[path] = data


def _read_zip(data: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    budget = _Budget()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                budget.entry()
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise bad(f"entry {info.filename!r}: symbolic links are not allowed")
                if info.flag_bits & 0x1:
                    raise bad(f"entry {info.filename!r}: encrypted entries are not supported")
                if info.is_dir():
                    _check_path(info.filename)
                    continue
                if _check_path(info.filename) is None:
                    continue
                with zf.open(info) as member:
                    _add(files, info.filename, _read_capped(member, info.filename, budget))
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, ValueError, RuntimeError) as e:
        raise bad(f"not a readable zip archive: {e}") from None
    return files


class _CappedGzip(io.RawIOBase):
    """A gzip stream that fails once more than the package cap (+ tar headers) is decompressed."""

    def __init__(self, data: bytes) -> None:
        self._gz = gzip.GzipFile(fileobj=io.BytesIO(data))
        self._seen = 0
        self._cap = MAX_PACKAGE_BYTES + (MAX_FILES + 8) * 1536

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        chunk = self._gz.read(len(b))
        self._seen += len(chunk)
        if self._seen > self._cap:
            raise too_large(f"the package is larger than {MAX_PACKAGE_BYTES} bytes decompressed")
        b[: len(chunk)] = chunk
        return len(chunk)


def _read_tar_gz(data: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    budget = _Budget()
    try:
        with tarfile.open(fileobj=io.BufferedReader(_CappedGzip(data)), mode="r|") as tf:
            for member in tf:
                budget.entry()
                if member.issym() or member.islnk():
                    raise bad(f"entry {member.name!r}: links are not allowed")
                if member.isdir():
                    _check_path(member.name + "/")
                    continue
                if not member.isfile():
                    raise bad(f"entry {member.name!r}: only regular files and directories are allowed")
                if _check_path(member.name) is None:
                    continue
                if member.size > MAX_FILE_BYTES:
                    raise too_large(f"entry {member.name!r} is larger than {MAX_FILE_BYTES} bytes")
                stream = tf.extractfile(member)
                _add(files, member.name, _read_capped(stream, member.name, budget) if stream else b"")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise bad(f"not a readable tar.gz archive: {e}") from None
    return files


def read_upload(filename: str, data: bytes) -> Package:
    """The package in an uploaded ``SKILL.md``, zip or tar.gz (contract in the module docstring)."""
    if len(data) > MAX_PACKAGE_BYTES:
        raise too_large(f"the upload is larger than {MAX_PACKAGE_BYTES} bytes")
    if not data:
        raise bad("the uploaded file is empty")
    lower = filename.lower()
    if data[:4] == b"PK\x03\x04" or (lower.endswith(".zip") and data[:2] == b"PK"):
        return package_from_files(_read_zip(data))
    if data[:2] == b"\x1f\x8b":
        return package_from_files(_read_tar_gz(data))
    if lower.endswith((".zip", ".tar.gz", ".tgz")):
        raise bad(f"{filename!r} is not a valid {'zip' if lower.endswith('.zip') else 'tar.gz'} archive")
    if lower.endswith(".md") or data.lstrip(b"\xef\xbb\xbf").startswith(b"---"):
        if len(data) > MAX_FILE_BYTES:
            raise too_large(f"SKILL.md is larger than {MAX_FILE_BYTES} bytes")
        return package_from_files({SKILL_MD: data})
    raise bad("upload a SKILL.md, a .zip or a .tar.gz package")


def read_directory(root: Path) -> dict[str, bytes]:
    """The files of an unpacked package directory (Magec G2 keeps ``data/skills/<slug>/``), under
    the same limits and path rules as an upload; symbolic links are refused, never followed."""
    if root.is_symlink() or not root.is_dir():
        raise bad(f"package directory {root.name!r} not found")
    files: dict[str, bytes] = {}
    budget = _Budget()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise bad(f"entry {rel!r}: symbolic links are not allowed")
        if path.is_dir():
            continue
        if not path.is_file():
            raise bad(f"entry {rel!r}: only regular files and directories are allowed")
        budget.entry()
        if _check_path(rel) is None:
            continue
        with path.open("rb") as f:
            _add(files, rel, _read_capped(f, rel, budget))
    return files


# -- writing downloads -----------------------------------------------------------------------------
def write_tar_gz(root: str, files: Mapping[str, bytes]) -> bytes:
    """A tar.gz of ``files`` under ``root/`` (what :func:`read_upload` reads back)."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path in sorted(files):
            data = files[path]
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size, info.mtime, info.mode = len(data), now, 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def slugify(name: str) -> str:
    """A kebab-case skill name from a display name (``"Return Policy"`` → ``return-policy``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return (slug or "skill")[:64].strip("-") or "skill"


def inline_skill_md(name: str, description: str, instructions: str) -> bytes:
    """The ``SKILL.md`` of an inline skill (its download), so it re-uploads as a package."""
    meta = {"name": slugify(name), "description": description.strip() or name}
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip()
    return f"---\n{front}\n---\n\n{instructions.strip()}\n".encode()
