"""The backup archive: writing magec's ``.tar.gz`` and reading it (or a Magec one) back.

Layout of a magec backup (``magec-backup-YYYYMMDD-HHMMSS.tar.gz``, Magec's file name)::

    manifest.json              {"format": "magec-backup", "version": 1, "createdAt", "epoch",
                                "keyCheck", "kinds": {kind: n}, "sections": {name: {table: n}}}
    settings.json              the settings, as stored
    resources/<kind>.json      [{"id", "createdAt", "updatedAt", "data": <raw record>, "seal"}] per kind
    tables/<section>/<table>.jsonl   one JSON row per line (see :mod:`magec.backup.sections`)

Resources are the store's raw form: ``${KEY}`` references intact and sensitive values still
encrypted (``enc:v1:…``) under the server's key. ``keyCheck`` is a known text encrypted with that
key, so a restore on a server with another key is refused before anything is read. ``seal`` (format
version 2) is an HMAC of the record (:func:`seal_text`) under a key derived from the server's key: a
record edited outside magec (a backend's URL changed, a ciphertext copied from another record) no
longer matches it, and a restore refuses to carry its encrypted values (see
:mod:`magec.backup.restore`). Version 1 archives have no seals.

A **Magec** backup (the Go server's archive of its data dir: ``store.json`` at the root,
``conversations.json``, skill files) is recognised by its ``store.json`` and read as the same
:class:`Backup`, with ``origin="magec"``: its items go through the same rules as
``magec import-magec`` (Magec-encrypted secret values cannot be read and are restored empty, with
a warning); conversations and skill files are reported, not restored.

Reading is bounded: at most ``max_unpacked`` bytes are unpacked, counted as they are decompressed
(a gzip bomb stops there, in whatever entry or header it hides) and read to the gzip trailer (its
CRC checked), at most :data:`MAX_ENTRIES`
entries are read, only regular files under the names above are kept, and every JSON document must
parse.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import sqlalchemy as sa

from magec import jsontext
from magec.backup.sections import Rows, Section, dump_table
from magec.errors import ValidationError
from magec.resources import KINDS
from magec.store.store import Store
from magec.store.tables import config_state, resources

FORMAT = "magec-backup"
VERSION = 2
#: what ``keyCheck`` decrypts to under the right key
KEY_CHECK = "magec-backup-key-check"
_MEMBER = re.compile(r"^(manifest\.json|settings\.json|resources/[A-Za-z0-9_]+\.json|tables/[a-z0-9_-]+/[a-z0-9_]+\.jsonl)$")


@dataclass
class Entry:
    """One resource of a backup: its id, raw record and timestamps (``None`` for Magec items)."""

    id: str
    data: dict[str, Any]
    created_at: str | None = None
    updated_at: str | None = None
    seal: str | None = None  # see seal_text; None in a version 1 or Magec archive


@dataclass
class Backup:
    origin: str  # "magec" (this server) | "magec-go" (Magec's archive)
    manifest: dict[str, Any]
    settings: dict[str, Any] | None
    resources: dict[str, list[Entry]]
    #: section name -> table name -> rows (JSON form)
    sections: dict[str, dict[str, Rows]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def seal_text(kind: str, id: str, data: dict[str, Any]) -> str:
    """The text a record's seal is made of: its kind, id and raw data, canonical JSON."""
    return json.dumps([kind, id, data], sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def file_name(at: datetime | None = None) -> str:
    return f"magec-backup-{(at or datetime.now(UTC)).strftime('%Y%m%d-%H%M%S')}.tar.gz"


def _add(tar: tarfile.TarFile, name: str, payload: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    payload.seek(0)
    tar.addfile(info, payload)


def _add_json(tar: tarfile.TarFile, name: str, value: Any) -> None:
    raw = json.dumps(value, ensure_ascii=False, indent=1).encode()
    _add(tar, name, io.BytesIO(raw), len(raw))


async def write(store: Store[Any], sections: Sequence[Section], out: IO[bytes]) -> dict[str, Any]:
    """Write the backup of ``store`` (plus ``sections``) as a ``.tar.gz`` to ``out``; returns the
    manifest. Everything is read in one transaction (repeatable read on PostgreSQL), so the
    archive is one consistent moment even while writers go on."""
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "createdAt": datetime.now(UTC).isoformat(),
        "keyCheck": store.cipher.encrypt(KEY_CHECK),
        "kinds": {},
        "sections": {},
    }
    engine = store.engine
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        async with engine.connect() as conn:
            conn = await conn.execution_options(**options)
            async with conn.begin():
                state = (await conn.execute(sa.select(config_state.c.epoch, config_state.c.settings))).one()
                manifest["epoch"] = int(state.epoch)
                _add_json(tar, "settings.json", json.loads(state.settings))
                rows = await conn.execute(
                    sa.select(resources).order_by(resources.c.created_at, resources.c.id)
                )
                by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
                for r in rows:
                    data = json.loads(r.data)
                    by_kind.setdefault(r.kind, []).append(
                        {
                            "id": r.id,
                            "createdAt": r.created_at.isoformat() if r.created_at else None,
                            "updatedAt": r.updated_at.isoformat() if r.updated_at else None,
                            "data": data,
                            "seal": store.cipher.seal(seal_text(r.kind, r.id, data)),
                        }
                    )
                for kind, items in by_kind.items():
                    manifest["kinds"][kind] = len(items)
                    _add_json(tar, f"resources/{kind}.json", items)
                for section in sections:
                    counts: dict[str, int] = {}
                    for table in section.tables:
                        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as buf:
                            n = 0
                            async for row in dump_table(conn, table, section.skip_columns.get(table.name, ())):
                                buf.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
                                n += 1
                            counts[table.name] = n
                            _add(tar, f"tables/{section.name}/{table.name}.jsonl", buf, buf.tell())
                    manifest["sections"][section.name] = counts
        _add_json(tar, "manifest.json", manifest)
    return manifest


def _bad(message: str) -> ValidationError:
    return ValidationError(f"backup: {message}", field="backup")


#: the most entries an archive may hold (magec writes one per kind and table: a few dozen)
MAX_ENTRIES = 100_000


class _Unpacked(io.RawIOBase):
    """The decompressed tar stream of an upload, refusing to yield more than ``limit`` bytes.

    Why count here and not the members' sizes: every byte the reader decompresses costs, whether
    a member is read, skipped (tarfile decompresses it to reach the next header) or is a GNU
    long-name / pax header (which tarfile reads whole into memory); the headers' own size fields
    are the archive's word. tarfile reads a stream in 10 KB records, so the count stops a gzip bomb
    within one record of the limit."""

    def __init__(self, inner: gzip.GzipFile, limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._inner.read(len(buffer))
        self._count += len(chunk)
        if self._count > self._limit:
            raise _bad(f"unpacks to more than {self._limit} bytes")
        buffer[: len(chunk)] = chunk
        return len(chunk)


def read(data: IO[bytes], max_unpacked: int) -> Backup:
    """Parse an uploaded archive (magec's or Magec's); 400 (``field: backup``) when it is not one,
    when it unpacks to more than ``max_unpacked`` bytes (counted while reading) or when it holds
    more than :data:`MAX_ENTRIES` entries. Every refusal says in words what the file is instead
    (not gzip: a plain tar, a zip; gzip but no tar; cut short; corrupt), never a library's message."""
    head = data.read(_PEEK)
    if head[:2] != _GZIP_MAGIC:
        raise _bad(_not_gzip(head))
    stream = _Unpacked(gzip.GzipFile(fileobj=_Prefixed(head, data), mode="rb"), max_unpacked)
    try:
        # a stream ("r|"): read forward in records, never a seek or a read of a whole member at once
        tar = tarfile.open(fileobj=stream, mode="r|")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise _bad(_damaged(e, "it is gzip-compressed but holds no tar archive")) from None
    files: dict[str, bytes] = {}
    nested: str | None = None
    with tar:
        try:
            for entries, member in enumerate(tar, start=1):
                if entries > MAX_ENTRIES:
                    raise _bad(f"holds more than {MAX_ENTRIES} entries")
                # kept by tarfile for random access, which a stream has none of (typeshed omits it)
                tar.members.clear()  # type: ignore[attr-defined]
                name = member.name.removeprefix("./")
                if not member.isfile():
                    continue
                if name == "store.json" or name == "conversations.json":
                    pass  # a Magec archive
                elif not _MEMBER.match(name):
                    if nested is None and name.rsplit("/", 1)[-1] in ("manifest.json", "store.json"):
                        nested = name
                    continue  # skill files of a Magec archive, editor leftovers: not ours to read
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                files[name] = fh.read(member.size + 1)[: member.size]
            # to the gzip trailer: its CRC is checked only there, and tarfile stops at the end-of-archive
            # blocks, so a flipped byte inside a member was read as data (bounded by _Unpacked)
            while stream.read(1 << 16):
                pass
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise _bad(_damaged(e, "a tar entry in it is broken")) from None
    if "manifest.json" in files:
        return _read_magec(files)
    if "store.json" in files:
        return _read_go(files)
    if nested is not None:  # a backup unpacked and packed again from its folder
        raise _bad(f"manifest.json or store.json must be at the root of the archive, found {nested!r}: "
                   "pack the files themselves, not the folder that holds them")
    raise _bad("holds neither manifest.json (a magec backup) nor store.json (a Magec backup) at its root: "
               "post a file written by magec backup or GET /api/v1/admin/settings/backup")


#: bytes looked at to say what a file that is not a ``.tar.gz`` is (a tar header's ``ustar`` mark
#: sits at offset 257)
_PEEK = 512
_GZIP_MAGIC = b"\x1f\x8b"


def _not_gzip(head: bytes) -> str:
    """What an upload that does not start as gzip is, in words."""
    if head[257:262] == b"ustar":
        what = "a plain .tar archive (not gzip-compressed): compress it (gzip) or post the .tar.gz itself"
    elif head[:4] == b"PK\x03\x04":
        what = "a .zip archive: a backup is a .tar.gz"
    elif head.lstrip()[:1] in (b"{", b"["):
        what = "JSON text: a backup is the .tar.gz archive (a Magec store.json imports with magec import-magec)"
    else:
        what = "not gzip-compressed: post the .tar.gz file itself"
    return f"not a .tar.gz archive: the upload is {what}"


def _damaged(err: BaseException, otherwise: str) -> str:
    """Why reading the archive stopped, in words: cut short, corrupt compressed data, or ``otherwise``
    (what a tar error at that point means)."""
    if isinstance(err, EOFError) or "unexpected end" in str(err).lower():
        return "the archive ends too early: it was cut short (an incomplete upload or download)"
    if isinstance(err, (zlib.error, gzip.BadGzipFile)):
        return "the archive's compressed data is corrupt (a checksum or a block does not match): it was damaged"
    return f"not a .tar.gz archive: {otherwise}"


class _Prefixed(io.RawIOBase):
    """``rest`` read on after the ``head`` already taken from it (a peek that needs no seek)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        chunk = self._rest.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _json(files: dict[str, bytes], name: str) -> Any:
    return _parse(files[name], name)


def _parse(data: bytes, where: str) -> Any:
    """``data`` as JSON; anything the one safe parser refuses is a 400 naming ``where`` (deep
    nesting, NaN, a number too long to read: restoring it would fail half way or store it wrong)."""
    try:
        return jsontext.decode(data, where)
    except ValidationError as err:
        raise _bad(err.message) from None


def _read_magec(files: dict[str, bytes]) -> Backup:
    manifest = _json(files, "manifest.json")
    if not isinstance(manifest, dict):
        raise _bad("manifest.json must be a JSON object (a magec backup manifest)")
    if manifest.get("format") != FORMAT:
        raise _bad(f"manifest.json: format is {json.dumps(manifest.get('format'))[:80]}, not \"{FORMAT}\": "
                   "not a magec backup manifest")
    version = manifest.get("version") or 0
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise _bad(f"manifest.json: version must be a whole number (this magec reads up to {VERSION})")
    if version > VERSION:
        raise _bad(f"manifest.json: format version {version} was written by a newer magec (this one reads up "
                   f"to {VERSION}): restore it with that version or a later one")
    settings = _json(files, "settings.json") if "settings.json" in files else None
    if settings is not None and not isinstance(settings, dict):
        raise _bad("settings.json must be a JSON object")
    out: dict[str, list[Entry]] = {}
    warnings: list[str] = []
    for name in files:
        if not name.startswith("resources/"):
            continue
        kind = name.removeprefix("resources/").removesuffix(".json")
        items = _json(files, name)
        if not isinstance(items, list):
            raise _bad(f"{name} must be a JSON list")
        if kind not in KINDS:
            warnings.append(f"{kind}: not a resource kind of this magec; {len(items)} item(s) not restored")
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("data"), dict) or not item.get("id"):
                raise _bad(f"{name}[{i}] must be an object with an id and data")
            out.setdefault(kind, []).append(
                Entry(str(item["id"]), dict(item["data"]), item.get("createdAt"), item.get("updatedAt"),
                      item["seal"] if isinstance(item.get("seal"), str) else None)
            )
    sections: dict[str, dict[str, Rows]] = {}
    for name in files:
        if not name.startswith("tables/"):
            continue
        _prefix, section, table = name.split("/")
        rows = []
        for n, line in enumerate(files[name].splitlines()):
            if not line.strip():
                continue
            row = _parse(line, f"{name} line {n + 1}")
            if not isinstance(row, dict):
                raise _bad(f"{name} line {n + 1} must be a JSON object")
            rows.append(row)
        sections.setdefault(section, {})[table.removesuffix(".jsonl")] = rows
    return Backup("magec", manifest, settings, out, sections, warnings)


#: settings a Magec store.json carries that mean the same here (as ``magec import-magec`` keeps)
_GO_SETTINGS = ("sessionProvider", "longTermProvider", "flows", "temporaryDir")


def _read_go(files: dict[str, bytes]) -> Backup:
    from magec.import_check import trust_notes
    from magec.importer import _normalise  # the one translation of Magec's records

    data = _json(files, "store.json")
    if not isinstance(data, dict):
        raise _bad("store.json must be a JSON object")
    out: dict[str, list[Entry]] = {}
    warnings: list[str] = []
    for kind in KINDS:
        items = data.get(kind) or []
        if not isinstance(items, list):
            raise _bad(f"store.json: {kind} must be a list")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not item.get("id"):
                raise _bad(f"store.json: {kind}[{i}] must be an object with an id")
            if kind == "secrets" and str(item.get("value", "")).startswith("enc:v1:"):
                warnings.append(
                    f"secret {item.get('key') or item['id']!r}: encrypted with Magec's own key, restored "
                    "without its value (enter it again in the Admin UI)"
                )
            elif kind == "secrets" and item.get("value") in ("", None):
                warnings.append(
                    f"secret {item.get('key') or item['id']!r}: its value is empty in store.json, so "
                    "whatever uses it gets nothing (enter it in the Admin UI)"
                )
            # what the import lets others do here: commands it runs, credentials that keep working
            warnings += trust_notes(kind, item)
            try:
                record = _normalise(kind, item)
            except ValidationError as e:  # named as a restore names a field (``backends[b1].apiKey``)
                raise ValidationError(f"{kind}[{item['id']}].{e.message}",
                                      field=f"{kind}[{item['id']}].{e.field}") from None
            out.setdefault(kind, []).append(Entry(str(item["id"]), record))
    for key, items in data.items():
        if key not in KINDS and key != "settings" and isinstance(items, list) and items:
            warnings.append(f"{key}: {len(items)} item(s) of a kind this magec does not have; not restored")
    raw_settings = data.get("settings")
    settings = (
        {k: v for k, v in raw_settings.items() if k in _GO_SETTINGS} if isinstance(raw_settings, dict) else None
    )
    if "conversations.json" in files:
        warnings.append("conversations.json: Magec's conversation log is not restored")
    manifest = {"format": "magec-go", "kinds": {k: len(v) for k, v in out.items()}, "sections": {}}
    return Backup("magec-go", manifest, settings, out, {}, warnings)
