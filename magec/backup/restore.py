"""Restore a :class:`~magec.backup.archive.Backup`: validated, atomic, live, or a dry run.

Contract:

* **Validated.** Every resource goes through the store's save path
  (:func:`magec.store.validation.prepare`: shape, the kind's save rules, references, sensitive
  fields) against the *restored* world — every reference must point at something in the backup —
  as an update of itself (so a client keeps its token hash). The first bad item is a 400 naming
  it: ``agents 'Helper' (a1): llm.backend: backend 'b9' not found`` with
  ``field = "agents[a1].llm.backend"``. Settings go through the settings rules.
* **Sealed.** A record that carries encrypted values must match the seal this server made when it
  exported it (:func:`check_seal`), else a 400 naming the first encrypted field: an edited record
  would carry a secret to a URL it was never saved for. A record whose encrypted values are bound
  to another record (an agent's ``llm.headers`` to its backend) needs that one sealed too
  (:func:`check_bound_records`), and an unsealed record's stdio command, client token and ``${KEY}``
  references are named in ``warnings`` (:func:`foreign_notes`).
* **Key.** A magec backup carries ``keyCheck``: when this server's ``server.encryptionKey`` cannot
  decrypt it (or any secret in it), :class:`~magec.errors.BackupKeyMismatchError` (400) is raised
  and nothing is changed.
* **Atomic.** Everything is checked before the first write, and all writes — resources replaced,
  settings, each section's tables, observed state of removed backends — are one transaction with
  one epoch bump: a failure anywhere rolls all of it back.
* **Live.** After the commit the store's commit hooks run (the runtime catches up before the
  answer, as for every Admin API write); a failed rebuild is the usual 503 "saved, but…".
* **Dry run.** The same checks, no write: the answer says what would be created, updated and
  deleted per kind (compared on decrypted values, so re-encryption is not a change).

It reaches into the store's write transaction (``_write_tx``, ``_bump``, the row-cache
bookkeeping, ``_committed``): a restore is the one write that spans every kind at once, and it
must follow exactly the same commit protocol as :class:`~magec.store.store.Store`'s own writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from magec.backup.archive import KEY_CHECK, Backup, Entry, seal_text
from magec.backup.sections import Section, load_table
from magec.errors import BackupKeyMismatchError, ConfigError, MagecError, ValidationError
from magec.import_check import printable, trust_notes
from magec.resources import KINDS, singular, tokens
from magec.store import sensitive, validation
from magec.store.crypto import Cipher, is_encrypted
from magec.store.store import Store
from magec.store.tables import backend_status, config_state, resources

KEY_MESSAGE = (
    "this backup was made on a server with a different server.encryptionKey (MAGEC_ENCRYPTION_KEY): "
    "its secrets cannot be decrypted here. Restore it on a server configured with the same "
    "server.encryptionKey; nothing was changed"
)


def _plain(kind: str, raw: dict[str, Any], cipher: Cipher) -> dict[str, Any]:
    model = KINDS[kind]
    try:
        return sensitive.decrypt_all(model.sensitive + model.secret_urls, raw, cipher)
    except ConfigError:
        raise BackupKeyMismatchError(KEY_MESSAGE, field="server.encryptionKey") from None


def check_key(backup: Backup, cipher: Cipher) -> None:
    token = backup.manifest.get("keyCheck")
    if backup.origin != "magec" or not token:
        return
    try:
        ok = cipher.decrypt(str(token)) == KEY_CHECK
    except ConfigError:
        ok = False
    if not ok:
        raise BackupKeyMismatchError(KEY_MESSAGE, field="server.encryptionKey")


def _first_encrypted(value: Any, path: str = "") -> str | None:
    """The path of the first encrypted value in ``value`` (``None`` when it holds none)."""
    if is_encrypted(value):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _first_encrypted(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def check_seal(kind: str, entry: Entry, cipher: Cipher) -> None:
    """Refuse a record that carries encrypted values unless its seal proves it is as exported.

    Otherwise an archive edited by hand (or by whoever holds an admin token) could point a
    backend's stored API key at another URL, or paste one record's ciphertext into another: the
    restore would send a secret where it was never saved for (a plain write refuses both).
    """
    where = _first_encrypted(entry.data)
    if where is None or cipher.sealed(seal_text(kind, entry.id, entry.data), entry.seal):
        return
    raise ValidationError(
        f"{_label(kind, entry)}: {where} is encrypted but the record is not as this server exported it "
        "(edited since, or from a backup older than sealed records), so its secrets are not restored "
        "with it: a secret is only ever sent where it was saved for. Set its encrypted values to \"\" "
        "in the archive and type them again after the restore",
        field=f"{kind}[{entry.id}].{where}",
    )


def check_bound_records(kind: str, entry: Entry, entries: dict[tuple[str, str], Entry], cipher: Cipher) -> None:
    """Refuse a record whose encrypted values are bound to another record (an agent's
    ``llm.headers`` to its backend) unless that record is sealed too, as this server exported it:
    an edited backend holds no encrypted value (so no seal is asked of it), and its new URL would
    receive the agent's secrets (the Admin API refuses the same move, :func:`validation.check_moves`)."""
    for other_kind, path, ref, targets in validation.BOUND_BY_REFERENCE:
        held = sensitive.encrypted_fields((path,), entry.data) if other_kind == kind else []
        target_id = str(sensitive.plain_field(entry.data, ref, cipher) or "")
        for target_kind in targets if held else ():
            target = entries.get((target_kind, target_id))
            if target is not None and not cipher.sealed(seal_text(target_kind, target.id, target.data), target.seal):
                raise ValidationError(
                    f"{_label(kind, entry)}: {held[0]} is bound to {singular(target_kind)} {target_id!r}, which "
                    "is not as this server exported it (edited since?), so the secret is not restored with it: "
                    "a secret is only ever sent where it was saved for. Set it to \"\" in the archive and type "
                    "it again after the restore",
                    field=f"{kind}[{entry.id}].{held[0]}",
                )


def foreign_notes(kind: str, entry: Entry, cipher: Cipher) -> list[str]:
    """What a record this server did not seal lets others do here (:func:`trust_notes`, plus the
    token of a client: its hash comes along). An unsealed record holds no encrypted value
    (:func:`check_seal`), but it was edited or never exported here, so its stdio command and its
    client's token are the archive author's — as in a Magec archive, the answer names them."""
    if cipher.sealed(seal_text(kind, entry.id, entry.data), entry.seal):
        return []
    notes = trust_notes(kind, entry.data | {"id": entry.id})
    if kind == "clients" and entry.data.get(tokens.HASH):
        preview = printable(str(entry.data.get(tokens.PREVIEW) or "?"))
        label = f"{printable(str(entry.data.get('name') or entry.id))} ({printable(entry.id)})"
        notes.append(f"client {label}: the archive's token {preview} keeps working here "
                     "(regenerate it in the Admin UI if its holders should not reach this server)")
    return notes


def _label(kind: str, entry: Entry) -> str:
    name = entry.data.get("name") or entry.data.get("key")
    return f"{kind} {name!r} ({entry.id})" if name else f"{kind} {entry.id!r}"


async def _prepare(
    store: Store[Any], backup: Backup, warnings: list[str]
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, Any]]:
    """Validate every item against the restored world; returns ``{kind: {id: stored}}`` and the
    settings to store, and adds :func:`foreign_notes` to ``warnings``."""
    cipher = store.cipher
    world: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
    for kind, entries in backup.resources.items():
        for entry in entries:
            if entry.id in world[kind]:
                raise ValidationError(f"{_label(kind, entry)}: id appears twice in the backup", field=f"{kind}[{entry.id}]")
            world[kind][entry.id] = {**entry.data, "id": entry.id}
    rules = store._rules  # noqa: SLF001 - the same save rules as every other write
    by_key = {(kind, e.id): e for kind, es in backup.resources.items() for e in es}
    out: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
    for kind, entries in backup.resources.items():
        for entry in entries:
            raw = world[kind][entry.id]
            ours = backup.origin == "magec"
            if ours:
                check_seal(kind, entry, cipher)
                check_bound_records(kind, entry, by_key, cipher)
                warnings += foreign_notes(kind, entry, cipher)
            body = _plain(kind, raw, cipher) if ours else raw
            # checked against every *other* item (uniqueness rules see the rest of the world)
            del world[kind][entry.id]
            try:
                # ours: saved as an update of itself (a client keeps its token hash, a secret its
                # value); Magec's: created as an import (its clear client tokens are hashed)
                data = await validation.prepare(
                    kind, body, raw if ours else None, world, cipher, rules, importing=True
                )
            except ValidationError as e:
                where = f"{kind}[{entry.id}]" + (f".{e.field}" if e.field else "")
                raise ValidationError(f"{_label(kind, entry)}: {e.message}", field=where) from None
            except MagecError as e:
                raise ValidationError(f"{_label(kind, entry)}: {e.message}", field=f"{kind}[{entry.id}]") from None
            finally:
                world[kind][entry.id] = raw
            data["id"] = entry.id
            out[kind][entry.id] = data
    try:
        settings = await validation.prepare_settings(dict(backup.settings or {}), out)
    except ValidationError as e:
        raise ValidationError(f"settings: {e.message}", field=f"settings.{e.field}" if e.field else "settings") from None
    return out, settings


def _changes(
    store: Store[Any], current: dict[str, dict[str, dict[str, Any]]], new: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    cipher = store.cipher
    changes: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        now, then = current.get(kind, {}), new.get(kind, {})
        updated = []
        unchanged = 0
        for rid in then.keys() & now.keys():
            try:
                same = _plain(kind, now[rid], cipher) == _plain(kind, then[rid], cipher)
            except BackupKeyMismatchError:
                same = False  # a current value this key cannot read: it is replaced either way
            if same:
                unchanged += 1
            else:
                updated.append(rid)
        changes[kind] = {
            "created": [rid for rid in then if rid not in now],
            "updated": sorted(updated),
            "deleted": [rid for rid in now if rid not in then],
            "unchanged": unchanged,
        }
    return changes


def _when(value: str | None) -> datetime:
    if value:
        try:
            at = datetime.fromisoformat(value)
            return at if at.tzinfo else at.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


async def _restore_sections(
    conn: AsyncConnection, backup: Backup, sections: Sequence[Section]
) -> dict[str, dict[str, int]]:
    restored: dict[str, dict[str, int]] = {}
    for section in sections:
        tables = backup.sections.get(section.name)
        if tables is None and section.optional:
            continue  # not in this backup: left as it is
        tables = tables or {}
        before = await section.before_restore(conn) if section.before_restore else {}
        for table in reversed(section.tables):
            await conn.execute(table.delete())
        counts = {}
        for table in section.tables:
            counts[table.name] = await load_table(conn, table, tables.get(table.name, []))
        if section.after_restore:
            await section.after_restore(conn, before)
        restored[section.name] = counts
    return restored


async def restore(
    store: Store[Any], backup: Backup, sections: Sequence[Section], *, dry_run: bool = False
) -> dict[str, Any]:
    """Apply (or, with ``dry_run``, only check) ``backup``; returns Magec's ``{"status": ...}``
    answer with ``changes`` per kind, ``settings``, ``sections`` and ``warnings``."""
    check_key(backup, store.cipher)
    unknown = sorted(set(backup.sections) - {s.name for s in sections})
    warnings = list(backup.warnings) + [
        f"{name}: a section this server does not have; not restored" for name in unknown
    ]
    stored, settings = await _prepare(store, backup, warnings)
    async with store._write_tx() as conn:  # noqa: SLF001 - see the module docstring
        current = await store.all_raw(conn)
        current_settings = json.loads((await conn.execute(sa.select(config_state.c.settings))).scalar_one())
        changes = _changes(store, current, stored)
        answer: dict[str, Any] = {
            "status": "dryRun" if dry_run else "restored",
            "origin": backup.origin,
            "changes": changes,
            "settings": "unchanged" if current_settings == settings else "updated",
            "sections": {
                s.name: {t.name: len(backup.sections.get(s.name, {}).get(t.name, [])) for t in s.tables}
                for s in sections
                if s.name in backup.sections or not s.optional
            },
            "warnings": warnings,
        }
        if dry_run:
            return answer
        for kind, items in current.items():
            for rid in items:
                if rid not in stored.get(kind, {}):
                    store._written(kind, rid, None)  # noqa: SLF001
                    # what the restore drops goes as a delete takes it (a client's cron runs and
                    # chats' choices): the sections below then put back what the archive carries
                    for hook in store.delete_hooks:
                        await hook(conn, kind, rid)
        await conn.execute(resources.delete())
        entries = {(k, e.id): e for k, es in backup.resources.items() for e in es}
        batch = []
        for kind, items in stored.items():
            for rid, data in items.items():
                entry = entries[(kind, rid)]
                text = store._written(kind, rid, json.dumps(data))  # noqa: SLF001
                batch.append(
                    {
                        "kind": kind,
                        "id": rid,
                        "name": str(data.get("name", "")),
                        "data": text,
                        "created_at": _when(entry.created_at),
                        "updated_at": _when(entry.updated_at),
                    }
                )
        for i in range(0, len(batch), 200):
            await conn.execute(resources.insert(), batch[i : i + 200])
        kept = list(stored.get("backends", {}))
        await conn.execute(backend_status.delete().where(backend_status.c.id.not_in(kept)))
        await conn.execute(
            config_state.update()
            .where(config_state.c.id == 1)
            .values(settings=store._settings_written(settings))  # noqa: SLF001
        )
        try:
            answer["sections"] = await _restore_sections(conn, backup, sections)
        except (sa.exc.StatementError, ValueError, TypeError, KeyError) as e:
            # a row the database refuses (duplicate key, wrong type, bad base64): the archive is
            # bad, and the whole transaction — resources already replaced included — rolls back
            raise ValidationError(
                f"backup: section rows cannot be restored ({type(getattr(e, 'orig', e)).__name__}); nothing was changed",
                field="backup",
            ) from None
        epoch = await store._bump(conn)  # noqa: SLF001 - one epoch for the whole restore
    # the row cache is reloaded (in creation order) on the next read; unchanged rows keep their
    # parsed dicts, so the runtime rebuilds only what changed
    store._rows_epoch = -1  # noqa: SLF001
    for kind, items in stored.items():
        for data in items.values():
            store._register(kind, data)  # noqa: SLF001 - every restored secret is redacted in logs
    answer["epoch"] = epoch
    await store._committed(epoch)  # noqa: SLF001 - the runtime catches up before the answer
    return answer
