"""The resource store: SQLAlchemy async over SQLite (default) or PostgreSQL.

Contract:
* Every mutation is one transaction that writes the resource rows *and* bumps the config epoch, so
  a change is either fully visible (with a new epoch) or not at all. A 2xx answer is sent only
  after the commit.
* After a commit, subscribers are called with the new epoch (the runtime rebuilds from it). Other
  instances sharing the database see the epoch move through :meth:`Store.watch_epoch`.
* The store keeps the *raw* form (what the user typed, ``${KEY}`` references intact, sensitive
  literals encrypted). :meth:`Store.snapshot` gives the runtime the *expanded* form, built by the
  :class:`SnapshotBuilder` it was given (``magec.config_view.SnapshotCache``).
* The store is generic over kinds and knows no subsystem: kinds, references and sensitive fields
  come from the models (:data:`magec.resources.KINDS`), save-time rules from the
  :data:`~magec.resources.rules.RuleTable` the composition root passes in. It imports neither
  backends, memory, flows nor the runtime; ``delete_hooks`` let a subsystem drop its rows of a resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from magec.errors import ConflictError, NotFoundError, ValidationError
from magec.redact import register_secret
from magec.resources import KINDS, Settings, plural, references, secret_refs, singular
from magec.resources.rules import RuleTable
from magec.store import sensitive, validation
from magec.store.crypto import Cipher
from magec.store.epochs import NOTIFY_CHANNEL, EpochFollower
from magec.store.pool import make_engine  # re-exported: the store module is where callers look
from magec.store.stamps import now, write_stamp
from magec.store.tables import as_utc, backend_status, config_state, resources

log = logging.getLogger(__name__)
Subscriber = Callable[[int], Any]
CommitHook = Callable[[int], Awaitable[None]]
#: ``hook(conn, kind, id)`` in the transaction deleting a resource: rows a subsystem keeps for it go too
DeleteHook = Callable[[AsyncConnection, str, str], Awaitable[None]]
#: one parsed row: (JSON text, parsed dict); an unchanged row keeps the same tuple object
Rows = dict[tuple[str, str], tuple[str, dict[str, Any]]]
S_co = TypeVar("S_co", covariant=True)


class SnapshotBuilder(Protocol[S_co]):
    """Turns the store's rows into the runtime's view (``magec.config_view.SnapshotCache``).

    ``rows`` is ``{(kind, id): (JSON text, parsed dict)}`` in creation order; an unchanged row keeps
    the same tuple object between calls, so a builder may diff by identity. Called under a lock,
    one build at a time."""

    def build(self, epoch: int, rows: Rows, settings_text: str, cipher: Cipher) -> S_co: ...


S = TypeVar("S")


def _row(key: tuple[str, str], text: str, *known: Rows) -> tuple[str, dict[str, Any]]:
    """The first of ``known``'s tuples for ``key`` holding ``text`` (so the row keeps its identity
    for SnapshotBuilder), else a newly parsed one."""
    for rows in known:
        row = rows.get(key)
        if row is not None and row[0] == text:
            return row
    return (text, json.loads(text))


class Store(EpochFollower, Generic[S]):
    """``snapshots`` builds what :meth:`snapshot` returns; ``rules`` are the save-time rules per
    kind (:func:`magec.resources.rules.merge` of their owners' tables)."""

    def __init__(
        self, engine: AsyncEngine, cipher: Cipher, *, snapshots: SnapshotBuilder[S], rules: RuleTable
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.epoch = 0
        self._subscribers: list[Subscriber] = []
        self._commit_hooks: list[CommitHook] = []
        self.delete_hooks: list[DeleteHook] = []
        self._snapshots = snapshots
        self._rules = rules
        # Parsed rows at ``_rows_epoch`` ((kind, id) -> (JSON text, parsed dict), in creation order)
        # and the settings text. This process's own writes patch it in place of a re-read, so an
        # edit costs the same with 10 or 1,000 resources; another replica's write (the database
        # epoch moved past it) makes the next read reload it. Parsed dicts are shared: read-only.
        self._rows: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._rows_epoch = -1
        self._settings_text = "{}"
        # the mapping the last read returned (cache or reload): a reload reuses its tuples too, so
        # a row keeps its tuple from one snapshot to the next even while the cache stays behind
        # (a reload during another write transaction is not cached; without this, every such
        # reload gave the rows written since the cache's epoch new tuples and their apps were
        # rebuilt again: SnapshotBuilder tells changed rows by identity)
        self._served: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        # rows written by the write transaction in progress (serialised by _write_lock)
        self._pending: list[tuple[str, str, str | None]] = []
        self._pending_settings: str | None = None
        self._tx_epoch: int | None = None
        self._epoch_read = None
        self._epoch_next = None
        self._snapshot_lock = asyncio.Lock()
        self.is_postgres = engine.dialect.name == "postgresql"
        # Writes are serialised in-process so reference checks and the write see the same state.
        self._write_lock = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Ensure the singleton config row exists and load the current epoch."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(config_state).where(config_state.c.id == 1))).first()
            if row is None:
                # replicas starting together on a new database both find no row: the later insert
                # is a no-op (a plain INSERT failed that replica's start-up with a duplicate key)
                insert = (postgresql.insert if self.is_postgres else sqlite.insert)(config_state)
                await conn.execute(insert.values(id=1, epoch=0, settings=json.dumps(Settings().dump()))
                                   .on_conflict_do_nothing(index_elements=["id"]))
                row = (await conn.execute(sa.select(config_state.c.epoch).where(config_state.c.id == 1))).one()
            self.epoch = int(row.epoch)
        await self._protect_legacy()

    async def _protect_legacy(self) -> None:
        """Encrypt sensitive literals an older version stored in clear (header values, URLs with
        credentials) and register every stored secret for redaction. No epoch bump: the expanded
        values are unchanged."""
        async with self._write_tx() as conn:
            rows = await conn.execute(sa.select(resources.c.kind, resources.c.id, resources.c.data))
            for kind, rid, text in [(r.kind, r.id, r.data) for r in rows]:
                model = KINDS.get(kind)
                if model is None:
                    continue
                raw = json.loads(text)
                self._register(kind, raw)
                if not model.sensitive and not model.secret_urls:
                    continue
                try:  # old=None: nothing is "kept", every clear literal is encrypted
                    stored = sensitive.protect(
                        model.sensitive, raw, None, self.cipher, urls=model.secret_urls, carried=True
                    )
                except ValidationError:  # e.g. a legacy URL literally holding "***": leave it as is
                    continue
                if stored != raw:
                    await conn.execute(
                        resources.update()
                        .where(resources.c.kind == kind, resources.c.id == rid)
                        .values(data=json.dumps(stored))
                    )

    def _register(self, kind: str, raw: dict[str, Any]) -> None:
        """Tell the redactor every secret this record holds (decrypted)."""
        model = KINDS[kind]
        plain = sensitive.decrypt_all(model.sensitive + model.secret_urls, raw, self.cipher)
        for value in sensitive.secret_values(model.sensitive, model.secret_urls, plain):
            register_secret(value)

    async def close(self) -> None:
        await self.engine.dispose()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn(epoch)`` after every committed mutation; returns an unsubscribe function."""
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn)

    def on_commit(self, hook: CommitHook) -> Callable[[], None]:
        """Await ``hook(epoch)`` after each of *this process's* committed writes, before the write
        returns to its caller (read-your-writes: the runtime catches up here). An exception from
        the hook reaches the writer; the write itself stays committed."""
        self._commit_hooks.append(hook)
        return lambda: self._commit_hooks.remove(hook)

    async def _committed(self, epoch: int) -> None:
        self._notify()
        for hook in list(self._commit_hooks):
            await hook(epoch)

    def _notify(self) -> None:
        for fn in list(self._subscribers):
            try:
                result = fn(self.epoch)
                if asyncio.iscoroutine(result):
                    asyncio.ensure_future(result)
            except Exception:  # noqa: BLE001 - one subscriber must not break the others
                log.exception("config subscriber failed")

    async def _bump(self, conn: AsyncConnection) -> int:
        await conn.execute(
            config_state.update().where(config_state.c.id == 1).values(epoch=config_state.c.epoch + 1)
        )
        self.epoch = int((await conn.execute(sa.select(config_state.c.epoch))).scalar_one())
        self._tx_epoch = self.epoch
        if self.is_postgres:
            # Delivered by PostgreSQL at commit time, to every replica listening.
            await conn.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, str(self.epoch))))
        return self.epoch

    # -- reads -------------------------------------------------------------------------------
    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in KINDS:
            raise NotFoundError(f"unknown resource kind {kind!r}")

    async def list_items(self, kind: str) -> list[dict[str, Any]]:
        self._check_kind(kind)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(resources.c.data)
                .where(resources.c.kind == kind)
                .order_by(resources.c.created_at, resources.c.id)
            )
            return [json.loads(r.data) for r in rows]

    async def get(self, kind: str, id: str) -> dict[str, Any]:
        self._check_kind(kind)
        async with self.engine.connect() as conn:
            return await self._get(conn, kind, id)

    async def _get(self, conn: AsyncConnection, kind: str, id: str) -> dict[str, Any]:
        row = (
            await conn.execute(
                sa.select(resources.c.data).where(resources.c.kind == kind, resources.c.id == id)
            )
        ).first()
        if row is None:
            raise NotFoundError(f"{singular(kind)} {id!r} not found")
        return dict(json.loads(row.data))

    async def exists(self, kind: str, id: str) -> bool:
        async with self.engine.connect() as conn:
            row = await conn.execute(
                sa.select(resources.c.id).where(resources.c.kind == kind, resources.c.id == id)
            )
            return row.first() is not None

    async def _rows_at(
        self, conn: AsyncConnection
    ) -> tuple[int, dict[tuple[str, str], tuple[str, dict[str, Any]]], str]:
        """(epoch, rows, settings text) as the database has them now: from the cache when the
        database epoch is the cached one (one tiny query), else reloaded (unchanged texts keep
        their parsed dicts). The epoch is read first, so the rows are at least that new."""
        state = (await conn.execute(sa.select(config_state.c.epoch, config_state.c.settings))).one()
        epoch = int(state.epoch)
        if epoch == self._rows_epoch and not self._pending:
            self._served = self._rows
            return epoch, self._rows, self._settings_text
        result = await conn.execute(
            sa.select(resources.c.kind, resources.c.id, resources.c.data).order_by(
                resources.c.created_at, resources.c.id
            )
        )
        served, old = self._served, self._rows
        rows: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        for kind, rid, text in result:
            rows[(kind, rid)] = _row((kind, rid), text, served, old)
        if epoch > self._rows_epoch and not self._pending:
            self._rows, self._rows_epoch, self._settings_text = rows, epoch, state.settings
        self._served = rows
        return epoch, rows, state.settings

    def _patch_rows(self, epoch: int) -> None:
        """After this process's commit of ``epoch``: apply its rows to the cache (if the cache was
        exactly one epoch behind; otherwise the next read reloads)."""
        pending, settings = self._pending, self._pending_settings
        self._pending, self._pending_settings = [], None
        if self._rows_epoch != epoch - 1:
            return
        rows = dict(self._rows)  # copy-on-write: a reader may still hold the old mapping
        for kind, rid, text in pending:
            if text is None:
                rows.pop((kind, rid), None)
            else:  # a read between the commit and this patch may have served the row already
                rows[(kind, rid)] = _row((kind, rid), text, self._served)
        self._rows, self._rows_epoch = rows, epoch
        if settings is not None:
            self._settings_text = settings

    @contextlib.asynccontextmanager
    async def _write_tx(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction, serialised in-process; the row cache follows its commit."""
        async with self._write_lock:
            self._pending, self._pending_settings = [], None
            self._tx_epoch = None
            try:
                async with self.engine.begin() as conn:
                    yield conn
            except BaseException:
                self._pending, self._pending_settings = [], None
                raise
            if self._tx_epoch is not None:
                self._patch_rows(self._tx_epoch)
            self._pending, self._pending_settings = [], None

    def _settings_written(self, data: dict[str, Any]) -> str:
        self._pending_settings = json.dumps(data)
        return self._pending_settings

    def _written(self, kind: str, rid: str, text: str | None) -> str | None:
        self._pending.append((kind, rid, text))
        return text

    async def all_raw(self, conn: AsyncConnection | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """Every resource, by kind then id (raw form). The dicts are shared: do not mutate them."""

        def nest(rows: dict[tuple[str, str], tuple[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
            out: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
            for (kind, rid), (_text, data) in rows.items():
                out.setdefault(kind, {})[rid] = data
            return out

        if conn is not None:
            return nest((await self._rows_at(conn))[1])
        async with self.engine.connect() as c:
            return nest((await self._rows_at(c))[1])

    async def get_settings(self) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            return dict(json.loads((await conn.execute(sa.select(config_state.c.settings))).scalar_one()))

    # -- writes ------------------------------------------------------------------------------
    async def create(
        self,
        kind: str,
        body: dict[str, Any],
        *,
        keep_id: bool = False,
        server_fields: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Validate and insert; the id is server-generated (``keep_id`` is for imports).

        ``server_fields`` are set by the server after validation, over whatever the body said
        (a client's issued token hash: the clear token stays with the caller that issued it)."""
        self._check_kind(kind)
        async with self._write_tx() as conn:
            all_raw = await self.all_raw(conn)
            data = await validation.prepare(kind, body, None, all_raw, self.cipher, self._rules, importing=keep_id)
            data.update(server_fields or {})
            data["id"] = str(body.get("id")) if keep_id and body.get("id") else str(uuid.uuid4())
            if data["id"] in all_raw.get(kind, {}):
                raise ConflictError(f"{singular(kind)} {data['id']!r} already exists")
            ts = now()
            await conn.execute(
                resources.insert().values(kind=kind, id=data["id"], name=data.get("name", ""),
                                          data=self._written(kind, data["id"], json.dumps(data)),
                                          created_at=ts, updated_at=ts)
            )
            epoch = await self._bump(conn)
        await self._after_write(kind, data, epoch)
        return data

    async def update(self, kind: str, id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Validate and replace (the path id wins; empty sensitive fields keep their stored value)."""
        self._check_kind(kind)
        async with self._write_tx() as conn:
            old = await self._get(conn, kind, id)
            all_raw = await self.all_raw(conn)
            data = await validation.prepare(kind, body, old, all_raw, self.cipher, self._rules)
            data["id"] = id
            if kind == "secrets" and data.get("key") != old.get("key"):
                secret_refs.check_rekey(all_raw, id, str(old.get("key") or ""), self.plain)
            await conn.execute(
                resources.update()
                .where(resources.c.kind == kind, resources.c.id == id)
                .values(name=data.get("name", ""), data=self._written(kind, id, json.dumps(data)),
                        **write_stamp(kind, old, data))
            )
            epoch = await self._bump(conn)
        await self._after_write(kind, data, epoch)
        return data

    async def put_settings(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self._write_tx() as conn:
            all_raw = await self.all_raw(conn)
            stored = json.loads((await conn.execute(sa.select(config_state.c.settings))).scalar_one())
            data = await validation.prepare_settings(body, all_raw, stored)
            await conn.execute(
                config_state.update().where(config_state.c.id == 1).values(settings=self._settings_written(data))
            )
            epoch = await self._bump(conn)
        await self._committed(epoch)
        return data

    async def patch_raw(
        self, kind: str, id: str, fn: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Apply ``fn`` to a stored resource without validation (used by internal maintenance)."""
        async with self._write_tx() as conn:
            old = await self._get(conn, kind, id)
            data = fn(dict(old))
            await conn.execute(
                resources.update()
                .where(resources.c.kind == kind, resources.c.id == id)
                .values(data=self._written(kind, id, json.dumps(data)), **write_stamp(kind, old, data))
            )
            epoch = await self._bump(conn)
        await self._committed(epoch)
        return data

    async def _after_write(self, kind: str, data: dict[str, Any], epoch: int) -> None:
        self._register(kind, data)
        await self._committed(epoch)

    async def references_to(
        self,
        id: str,
        all_raw: dict[str, dict[str, dict[str, Any]]] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Every reference pointing at ``id``: ``{referrerType, referrerId, referrerName, field, kind,
        breaks}`` (``breaks``: the referrer stops working without it; ``validation.breaks_without``)."""
        all_raw = all_raw if all_raw is not None else await self.all_raw()
        settings = settings if settings is not None else await self.get_settings()
        found = []
        for kind, items in all_raw.items():
            for rid, data in items.items():
                for ref in references.refs_of(kind, data):
                    if ref.target == id:
                        found.append(
                            {
                                "referrerType": singular(kind),
                                "referrerId": rid,
                                "referrerName": data.get("name", ""),
                                "field": ref.field,
                                "kind": ref.kind,
                                "breaks": validation.breaks_without(kind, ref.kind, data, id, all_raw, self._rules),
                            }
                        )
        # a secret is used by its key, inside strings (``${KEY}``) and agents' ``secrets`` lists
        found.extend(secret_refs.uses(all_raw, id, self.plain))
        for ref in references.refs_of("settings", settings):
            if ref.target == id:
                found.append(
                    {
                        "referrerType": "settings",
                        "referrerId": "settings",
                        "referrerName": "settings",
                        "field": ref.field,
                        "kind": ref.kind,
                    }
                )
        return found

    def seal(self, text: str) -> str:
        """A keyed hash of ``text`` under this server's key (backends' connection fingerprints)."""
        return self.cipher.seal(text)

    def plain(self, kind: str, raw: dict[str, Any]) -> dict[str, Any]:
        """``raw`` with its sensitive values decrypted: for reading the ``${KEY}`` names they hold
        (references, fingerprints); never answered to anyone."""
        model = KINDS[kind]
        return sensitive.decrypt_all(model.sensitive + model.secret_urls, raw, self.cipher)

    async def delete(self, kind: str, id: str, *, force: bool = False) -> list[dict[str, Any]]:
        """Delete; 409 (ConflictError with the references) if referenced, unless ``force`` scrubs them."""
        self._check_kind(kind)
        async with self._write_tx() as conn:
            await self._get(conn, kind, id)
            all_raw = await self.all_raw(conn)
            settings = json.loads((await conn.execute(sa.select(config_state.c.settings))).scalar_one())
            refs = await self.references_to(id, all_raw, settings)
            if refs and not force:
                raise ConflictError(
                    f"{singular(kind)} {id!r} is referenced by {references.describe(refs)}; remove those references first, "
                    "or delete with ?force=true to remove them (settings.deleteReferenced: \"scrub\" makes "
                    "that the default)",
                    references=refs,
                )
            await self._scrub(conn, id, refs, all_raw, settings)
            await conn.execute(resources.delete().where(resources.c.kind == kind, resources.c.id == id))
            self._written(kind, id, None)
            if kind == "backends":
                await conn.execute(backend_status.delete().where(backend_status.c.id == id))
            for hook in self.delete_hooks:
                await hook(conn, kind, id)
            epoch = await self._bump(conn)
        await self._committed(epoch)
        return refs

    async def _scrub(
        self,
        conn: AsyncConnection,
        target: str,
        refs: list[dict[str, Any]],
        all_raw: dict[str, dict[str, dict[str, Any]]],
        settings: dict[str, Any],
    ) -> dict[str, Any]:
        """Remove references to ``target``; ``all_raw`` is updated in place, the settings returned."""
        touched = {(r["referrerType"], r["referrerId"]) for r in refs}
        for rtype, rid in touched:
            if rtype == "settings":
                settings = references.scrub("settings", settings, target)
                await conn.execute(
                    config_state.update()
                    .where(config_state.c.id == 1)
                    .values(settings=self._settings_written(settings))
                )
                continue
            kind = plural(rtype)
            data = references.scrub(kind, all_raw[kind][rid], target)
            secret = all_raw.get("secrets", {}).get(target)
            if isinstance(secret, dict):  # agents' ``secrets`` entries; a ``${KEY}`` stays as written
                data = secret_refs.scrub(data, target, str(secret.get("key") or ""))
            all_raw[kind][rid] = data
            await conn.execute(
                resources.update()
                .where(resources.c.kind == kind, resources.c.id == rid)
                .values(data=self._written(kind, rid, json.dumps(data)), updated_at=now())
            )
        return settings

    async def dead_references(self) -> list[dict[str, Any]]:
        """References whose target does not exist: ``{referrerType, referrerId, referrerName, field, target}``."""
        all_raw = await self.all_raw()
        settings = await self.get_settings()
        dead = []
        sources = [(k, rid, d) for k, items in all_raw.items() for rid, d in items.items()]
        sources.append(("settings", "settings", settings))
        for kind, rid, data in sources:
            for ref in references.refs_of(kind, data):
                if not any(ref.target in all_raw.get(t, {}) for t in ref.target_kinds):
                    dead.append(
                        {
                            "referrerType": singular(kind) if kind != "settings" else "settings",
                            "referrerId": rid,
                            "referrerName": data.get("name", "settings"),
                            "field": ref.field,
                            "target": ref.target,
                            "kind": ref.kind,
                        }
                    )
        return dead

    async def clean_dead_references(self) -> list[dict[str, Any]]:
        dead = await self.dead_references()
        if not dead:
            return []
        async with self._write_tx() as conn:
            all_raw = await self.all_raw(conn)
            settings = json.loads((await conn.execute(sa.select(config_state.c.settings))).scalar_one())
            for d in dead:
                settings = await self._scrub(conn, d["target"], [d], all_raw, settings)
            epoch = await self._bump(conn)
        await self._committed(epoch)
        return dead

    # -- runtime view ------------------------------------------------------------------------
    async def snapshot(self) -> S:
        """The expanded view (secrets decrypted, ``${KEY}`` substituted) at the current epoch.

        The epoch is read first, so the rows are at least that new. Unchanged rows keep their parsed
        models from the previous snapshot (the injected builder diffs the row mapping by identity)."""
        async with self._snapshot_lock:
            async with self.engine.connect() as conn:
                epoch, rows, settings = await self._rows_at(conn)
            return self._snapshots.build(epoch, rows, settings, self.cipher)

    # -- observed backend state (no epoch bump) ---------------------------------------------
    async def get_backend_status(self, id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(backend_status).where(backend_status.c.id == id))).first()
        if row is None:
            return {"health": {}, "capabilities": {}, "models": [], "modelsAt": None}
        return {
            "health": json.loads(row.health),
            "capabilities": json.loads(row.capabilities),
            "models": json.loads(row.models),
            # SQLite hands the stored UTC time back without its offset; a browser would read that as local
            "modelsAt": as_utc(row.models_at).isoformat() if row.models_at else None,
        }

    async def set_backend_status(self, id: str, **fields: Any) -> None:
        values: dict[str, Any] = {}
        for key in ("health", "capabilities", "models"):
            if key in fields:
                values[key] = json.dumps(fields[key])
        if "models" in fields:
            values["models_at"] = now()
        if not values:
            return
        # one statement: the first row of a new backend is written by whoever comes first (its
        # check on save, a "Test" click, another replica), and a select-then-insert lost that race
        # with a UNIQUE error
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        stmt = dialect.insert(backend_status).values(id=id, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_=values)
        async with self.engine.begin() as conn:
            await conn.execute(stmt)


__all__ = ["Rows", "SnapshotBuilder", "Store", "make_engine", "singular", "plural", "ValidationError"]
