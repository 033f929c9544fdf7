"""``SqlLongTermStore``: long-term memory in ordinary SQL tables (SQLite default, plain PostgreSQL).

Embeddings are float32 BLOBs; vector search runs over a per (app, user, model, dim)
:class:`~magec.memory.longterm_index.VectorIndex` cached in-process (an exact float32 scan of the contiguous
matrix below 20k rows, a cluster-probing IVF index above). The cache is validated on every search by the
scope's write generation (``memory_scopes``, a primary-key lookup bumped in every write transaction), so
writes by this or another process invalidate it. Full text matches the query's words as substrings
(``LIKE``); on SQLite the FTS5 trigram index ``memory_entries_fts`` (see :mod:`magec.memory.tables`) finds
the candidate rows first, so it is no scan. Search order and scoping: see :mod:`magec.memory.longterm`.
Re-embedding primitives (``reembed_*``) serve :class:`magec.memory.reembed.ReembedJob`.

:class:`magec.memory.pgvector_longterm.PgVectorLongTermStore` subclasses this, replacing the
vector and full-text primitives with SQL (pgvector, ``tsvector``).
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import logging
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from magec.errors import NotFoundError, ValidationError
from magec.memory._sql import insert_for, like_pattern, write_tx
from magec.memory.embedder import EmbedderLike, ResolveEmbedder
from magec.memory.longterm import MemoryEntry, Owners, entry_text, fuse, query_terms
from magec.memory.longterm_index import VectorIndex
from magec.memory.longterm_index import build as build_index
from magec.memory.longterm_sqlite import LazyConnection, PointReader, row_map
from magec.memory.owners import ClientCount
from magec.memory.tables import (
    LONGTERM_TABLES,
    create_memory_tables,
    memory_entries,
    memory_scopes,
    memory_sets,
)
from magec.redact import redact

log = logging.getLogger(__name__)

Group = tuple[str, int]  # (embedding model key, dim)

#: Key of the scope generation in the per-search row map (read with the rows that carry it).
_GENERATION = "\0generation"


@dataclass
class _Scope:
    generation: int
    groups: dict[Group, int]
    total: int
    matrices: dict[Group, VectorIndex] = field(default_factory=dict)


def parse_id(id: str | int) -> int:
    try:
        return int(id)
    except (TypeError, ValueError):
        raise NotFoundError(f"memory {id!r} not found") from None


class SqlLongTermStore(ClientCount):
    """Long-term memory on an ``AsyncEngine``; ``embedder`` ``None`` means full-text only.

    ``store_id`` names the memory set (the memory provider id) in ``memory_sets`` and
    ``memory_reembed_jobs``. ``resolve_embedder(key)`` supplies embedders of older models so their
    rows stay vector-searchable while a re-embed runs. ``min_score`` (cosine) drops weak vector hits;
    ``None`` keeps Magec's behaviour (always the nearest ``limit``).
    """

    table: sa.Table = memory_entries
    tables: tuple[sa.Table, ...] = LONGTERM_TABLES
    max_cached_scopes = 256
    #: Rows per (scope, model) from which search uses the IVF index instead of an exact scan.
    ivf_min_rows = VectorIndex.ivf_min_rows
    #: Searches read without BEGIN/ROLLBACK (PostgreSQL: two round trips fewer; every search
    #: statement is a read, and the scope generation check covers what one snapshot would).
    autocommit_reads = False
    #: Index builds of at most this many rows run on the event loop (bigger ones in a thread).
    build_on_loop_max_rows = 4_096

    def __init__(
        self,
        engine: AsyncEngine,
        embedder: EmbedderLike | None,
        *,
        store_id: str = "default",
        resolve_embedder: ResolveEmbedder | None = None,
        min_score: float | None = None,
        create_tables: bool = False,
    ) -> None:
        self.engine = engine
        self.embedder = embedder
        self.store_id = store_id
        self.resolve_embedder = resolve_embedder
        self.min_score = min_score
        self._create_tables = create_tables
        self._scopes: OrderedDict[tuple[str, str], _Scope] = OrderedDict()
        # weak values: a scope's lock disappears once no search holds it
        self._scope_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        self._known_models: set[Group] = set()
        self._reader = PointReader.for_engine(engine, self.table.name)
        self._fts: bool | None = None  # SQLite FTS5 index present (see _has_fts)
        # IVF centroids per (app, user, group), kept across writes: a rebuild skips k-means
        self._centroids: dict[tuple[str, str, Group], np.ndarray] = {}

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if self._create_tables:
            await create_memory_tables(self.engine, self.tables)

    async def close(self) -> None:
        self._scopes.clear()
        if self._reader is not None:
            self._reader.close()

    async def health(self) -> tuple[bool, str]:
        try:
            async with self.engine.connect() as conn:
                n = (await conn.execute(sa.select(sa.func.count()).select_from(self.table))).scalar_one()
        except Exception as e:  # noqa: BLE001 - health reports, never raises
            return False, redact(f"database error: {e}")
        model = self.embedder.key if self.embedder else "none (full-text search only)"
        return True, f"{n} memories; embedding model {model}"

    # -- embedding -------------------------------------------------------------------------
    def _embedder_for(self, key: str) -> EmbedderLike | None:
        if self.embedder is not None and self.embedder.key == key:
            return self.embedder
        if self.resolve_embedder is None:
            return None
        try:
            return self.resolve_embedder(key)
        except Exception:  # noqa: BLE001 - an unresolvable old model only disables its vector search
            log.warning("cannot resolve embedding model %s", key, exc_info=True)
            return None

    async def _embed_current(self, text: str) -> tuple[list[float] | None, str | None, int | None]:
        """Embed with the current model; on failure the row is stored unembedded (the job fixes it)."""
        if self.embedder is None:
            return None, None, None
        try:
            # an embedder with fallbacks says which model answered: the row is stored under that
            # model's key, so vectors of different models are never compared
            keyed = getattr(self.embedder, "embed_keyed", None)
            if keyed is not None:
                vectors, key = await keyed([text])
            else:
                vectors, key = await self.embedder.embed([text]), self.embedder.key
            vec = vectors[0]
        except Exception as e:  # noqa: BLE001 - a memory is never lost because embeddings are down
            log.warning("embedding failed, memory stored for full-text search only: %s", redact(str(e)))
            return None, None, None
        await self._ensure_model(key, len(vec), current=key == self.embedder.key)
        return vec, key, len(vec)

    async def _ensure_model(self, key: str, dim: int, current: bool = True) -> None:
        """Record (key, dim) as the set's current model (``current``; a fallback's rows are not);
        subclasses also build per-model indexes."""
        if not current or (key, dim) in self._known_models:
            return
        async with write_tx(self.engine) as conn:
            stmt = insert_for(conn, memory_sets).values(store_id=self.store_id, embedding_model=key, dim=dim, updated_at=time.time())
            stmt = stmt.on_conflict_do_update(
                index_elements=["store_id"],
                set_={"embedding_model": key, "dim": dim, "updated_at": stmt.excluded.updated_at},
            )
            await conn.execute(stmt)
        self._known_models.add((key, dim))

    def _encode(self, vec: list[float] | None) -> Any:
        return None if vec is None else np.asarray(vec, dtype=np.float32).tobytes()

    # -- writes ----------------------------------------------------------------------------
    async def _bump(self, conn: AsyncConnection, app: str, user: str) -> None:
        stmt = insert_for(conn, memory_scopes).values(app_name=app, user_id=user, generation=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["app_name", "user_id"], set_={"generation": memory_scopes.c.generation + 1}
        )
        await conn.execute(stmt)
        self._scopes.pop((app, user), None)

    async def save(
        self, app: str, user: str, content: str, category: str | None = None, author: str = "agent"
    ) -> MemoryEntry:
        content = (content or "").strip()
        category = (category or "").strip() or None
        if not content:
            raise ValidationError("memory content is empty", field="content")
        vec, key, dim = await self._embed_current(entry_text(content, category))
        t = time.time()
        values = dict(
            app_name=app, user_id=user, content=content, category=category, author=author,
            embedding=self._encode(vec), embedding_model=key, dim=dim, created_at=t, updated_at=t,
        )  # fmt: skip
        async with write_tx(self.engine) as conn:
            new_id = (await conn.execute(sa.insert(self.table).values(**values).returning(self.table.c.id))).scalar_one()
            await self._bump(conn, app, user)
        self._scopes.pop((app, user), None)
        return MemoryEntry(
            id=str(new_id), app_name=app, user_id=user, content=content, category=category, author=author,
            created_at=t, updated_at=t, embedding_model=key, dim=dim,
        )  # fmt: skip

    def _where_id(self, id: str, app: str | None, user: str | None) -> list[Any]:
        cond = [self.table.c.id == parse_id(id)]
        if app is not None:
            cond.append(self.table.c.app_name == app)
        if user is not None:
            cond.append(self.table.c.user_id == user)
        return cond

    async def update(self, id: str, content: str, *, app: str | None = None, user: str | None = None) -> MemoryEntry:
        current = await self.get(id, app=app, user=user)
        content = (content or "").strip()
        if not content:
            raise ValidationError("memory content is empty", field="content")
        vec, key, dim = await self._embed_current(entry_text(content, current.category))
        t = time.time()
        async with write_tx(self.engine) as conn:
            res = await conn.execute(
                sa.update(self.table)
                .where(*self._where_id(id, app, user))
                .values(content=content, embedding=self._encode(vec), embedding_model=key, dim=dim, updated_at=t)
                .returning(self.table.c.id)
            )
            if res.first() is None:
                raise NotFoundError(f"memory {id!r} not found")
            await self._bump(conn, current.app_name, current.user_id)
        self._scopes.pop((current.app_name, current.user_id), None)
        current.content, current.updated_at, current.embedding_model, current.dim = content, t, key, dim
        return current

    async def delete(self, id: str, *, app: str | None = None, user: str | None = None) -> None:
        async with write_tx(self.engine) as conn:
            row = (
                await conn.execute(
                    sa.delete(self.table)
                    .where(*self._where_id(id, app, user))
                    .returning(self.table.c.app_name, self.table.c.user_id)
                )
            ).first()
            if row is None:
                raise NotFoundError(f"memory {id!r} not found")
            await self._bump(conn, row.app_name, row.user_id)
        self._scopes.pop((row.app_name, row.user_id), None)

    # -- reads -----------------------------------------------------------------------------
    def _columns(self) -> list[Any]:
        t = self.table
        return [t.c.id, t.c.app_name, t.c.user_id, t.c.content, t.c.category, t.c.author,
                t.c.created_at, t.c.updated_at, t.c.embedding_model, t.c.dim]  # fmt: skip

    @staticmethod
    def _entry(row: Any, score: float | None = None, match: str | None = None) -> MemoryEntry:
        return MemoryEntry(
            id=str(row.id), app_name=row.app_name, user_id=row.user_id, content=row.content,
            category=row.category, author=row.author, created_at=float(row.created_at),
            updated_at=float(row.updated_at), embedding_model=row.embedding_model, dim=row.dim,
            score=score, match=match,
        )  # fmt: skip

    async def get(self, id: str, *, app: str | None = None, user: str | None = None) -> MemoryEntry:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(*self._columns()).where(*self._where_id(id, app, user)))).first()
        if row is None:
            raise NotFoundError(f"memory {id!r} not found")
        return self._entry(row)

    def _filters(self, app: str | None, user: str | Owners | None, query: str | None) -> list[Any]:
        t, cond = self.table, []
        if app is not None:
            cond.append(t.c.app_name == app)
        if user is not None:  # one owner, or an admin's browse (Owners)
            cond += user.conditions(t.c.user_id) if isinstance(user, Owners) else [t.c.user_id == user]
        if query:
            cond.append(sa.func.lower(t.c.content).like(like_pattern(query.lower()), escape="\\"))
        return cond

    async def list(
        self, app: str | None = None, user: str | Owners | None = None, limit: int = 50, offset: int = 0,
        query: str | None = None,
    ) -> list[MemoryEntry]:
        t = self.table
        q = (
            sa.select(*self._columns())
            .where(*self._filters(app, user, query))
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self.engine.connect() as conn:
            return [self._entry(r) for r in await conn.execute(q)]

    async def count(self, app: str | None = None, user: str | Owners | None = None, query: str | None = None) -> int:
        q = sa.select(sa.func.count()).select_from(self.table).where(*self._filters(app, user, query))
        async with self.engine.connect() as conn:
            return int((await conn.execute(q)).scalar_one())

    async def _fetch(
        self, db: LazyConnection, app: str, user: str, ids: builtins.list[str], have: dict[str, Any]
    ) -> int | None:
        """Add the rows of ``ids`` missing from ``have`` and return the scope's write generation,
        read by the same statement (``None``: no row came back, generation unknown)."""
        if self._reader is not None and ids and not have:
            read = self._reader.rows([int(i) for i in ids], app, user)
            if read is not None:
                have.update(row_map(read[0]))
                return read[1]
        conn = await db.get()
        t = self.table
        gen = sa.select(memory_scopes.c.generation).where(memory_scopes.c.app_name == app, memory_scopes.c.user_id == user)
        missing = [int(i) for i in ids if i not in have]
        if not missing:
            generation = have.get(_GENERATION)
            if generation is not None or not ids:
                return generation if generation is not None else int((await conn.execute(gen)).scalar_one_or_none() or 0)
            missing = [int(ids[0])]
        q = sa.select(*self._columns(), gen.scalar_subquery().label("scope_generation")).where(t.c.id.in_(missing))
        generation = None
        for r in await conn.execute(q):
            have[str(r.id)] = r
            generation = int(r.scope_generation or 0)
        return generation

    # -- search ----------------------------------------------------------------------------
    async def _scope(self, conn: AsyncConnection, app: str, user: str) -> _Scope:
        gen_q = sa.select(memory_scopes.c.generation).where(memory_scopes.c.app_name == app, memory_scopes.c.user_id == user)
        generation = int((await conn.execute(gen_q)).scalar_one_or_none() or 0)
        cached = self._scopes.get((app, user))
        if cached is not None and cached.generation == generation:
            self._scopes.move_to_end((app, user))
            return cached
        t = self.table
        rows = await conn.execute(
            sa.select(t.c.embedding_model, t.c.dim, sa.func.count())
            .where(t.c.app_name == app, t.c.user_id == user)
            .group_by(t.c.embedding_model, t.c.dim)
        )
        groups: dict[Group, int] = {}
        total = 0
        for model, dim, n in rows:
            total += int(n)
            if model is not None and dim is not None:
                groups[(model, int(dim))] = int(n)
        scope = _Scope(generation, groups, total)
        self._scopes[(app, user)] = scope
        while len(self._scopes) > self.max_cached_scopes:
            self._scopes.popitem(last=False)
        return scope

    async def _index(self, conn: AsyncConnection | None, scope: _Scope, app: str, user: str, group: Group) -> VectorIndex:
        cached = scope.matrices.get(group)
        if cached is not None:
            return cached
        assert conn is not None, "an index build reads the rows"
        t = self.table
        rows = (
            await conn.execute(
                sa.select(t.c.id, t.c.embedding)
                .where(t.c.app_name == app, t.c.user_id == user, t.c.embedding_model == group[0], t.c.dim == group[1])
                .where(t.c.embedding.is_not(None))
                .order_by(t.c.id)
            )
        ).all()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), group[1])
        previous = self._centroids.get((app, user, group))
        build = functools.partial(build_index, ids, matrix, ivf_min_rows=self.ivf_min_rows, centroids=previous)
        # normalising and clustering a big matrix is CPU work: off the event loop
        index = await asyncio.to_thread(build) if len(rows) >= self.build_on_loop_max_rows else build()
        if index.centroids is not None:
            self._centroids[(app, user, group)] = index.centroids
            while len(self._centroids) > self.max_cached_scopes:
                self._centroids.pop(next(iter(self._centroids)))
        scope.matrices[group] = index
        return index

    async def _vector_hits(
        self, conn: AsyncConnection | None, scope: _Scope, app: str, user: str, group: Group, vec: builtins.list[float], limit: int,
        rows: dict[str, Any],
    ) -> builtins.list[tuple[str, float]]:
        """The nearest ``limit`` rows of ``group``; a subclass that reads whole rows on the way
        stores them in ``rows`` (plus ``rows[_GENERATION]``) so they are not fetched again."""
        index = await self._index(conn, scope, app, user, group)
        if len(index) == 0:
            return []
        q = np.asarray(vec, dtype=np.float32)
        q = q / (float(np.linalg.norm(q)) or 1.0)
        # An exact scan of a big matrix runs off the event loop (numpy releases the GIL in matmul);
        # an IVF probe or a small matrix is cheaper than the thread hop.
        if not index.is_ivf and index.matrix.size > 4_000_000:
            hits = await asyncio.to_thread(index.search, q, limit)
        else:
            hits = index.search(q, limit)
        return [(str(i), s) for i, s in hits]

    def _unsearchable(self, searchable: set[Group]) -> Any:
        t = self.table
        cond: builtins.list[Any] = [t.c.embedding_model.is_(None), t.c.embedding.is_(None)]
        if searchable:
            cond.append(sa.not_(sa.or_(*[sa.and_(t.c.embedding_model == m, t.c.dim == d) for m, d in searchable])))
        return sa.or_(*cond) if len(cond) > 1 else cond[0]

    async def _text_hits(
        self, conn: AsyncConnection, app: str, user: str, query: str, limit: int, only: Any | None
    ) -> builtins.list[tuple[str, float]]:
        terms = query_terms(query)
        if not terms:
            return []
        t = self.table
        text = sa.func.lower(t.c.content + " " + sa.func.coalesce(t.c.category, ""))
        hits = [sa.case((text.like(like_pattern(w), escape="\\"), 1), else_=0) for w in terms]
        score = sum(hits[1:], hits[0]).label("score")
        fts = await self._has_fts(conn)
        if fts:
            # ``app_name || ''``: not indexable, so SQLite drives the query by the FTS candidates'
            # rowids instead of walking the (app, user) index over the whole scope and testing
            # every row against the candidate list (measured 1.2 s → 5 ms at 100k rows)
            q = sa.select(t.c.id, score).where((t.c.app_name + "") == app, (t.c.user_id + "") == user)
        else:
            q = sa.select(t.c.id, score).where(t.c.app_name == app, t.c.user_id == user)
        if only is not None:
            q = q.where(only)
        if fts:
            # the trigram index yields the candidate rows (a superset of the LIKE matches: it also
            # folds non-ASCII case); the LIKE below keeps the result exactly as without it
            match = " OR ".join('"' + w.replace('"', '""') + '"' for w in terms)
            q = q.where(t.c.id.in_(sa.text("SELECT rowid FROM memory_entries_fts WHERE memory_entries_fts MATCH :fts_match")
                                   .bindparams(fts_match=match).columns(sa.column("rowid"))))  # fmt: skip
        q = q.where(sa.or_(*[text.like(like_pattern(w), escape="\\") for w in terms]))
        q = q.order_by(sa.desc("score"), t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        return [(str(r.id), float(r.score) / len(terms)) for r in await conn.execute(q)]

    async def _has_fts(self, conn: AsyncConnection) -> bool:
        """Whether the SQLite FTS5 index of ``memory_entries`` exists (checked once per store)."""
        if self._fts is None:
            self._fts = False
            if conn.dialect.name == "sqlite" and self.table is memory_entries:
                q = sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'memory_entries_fts'")
                self._fts = (await conn.execute(q)).first() is not None
        return self._fts

    async def _recent(self, conn: AsyncConnection, app: str, user: str, limit: int) -> builtins.list[str]:
        t = self.table
        q = sa.select(t.c.id).where(t.c.app_name == app, t.c.user_id == user).order_by(t.c.created_at.desc(), t.c.id.desc())
        return [str(r.id) for r in await conn.execute(q.limit(limit))]

    async def _query_vector(self, group: Group, query: str, cache: dict[str, builtins.list[float] | None]) -> builtins.list[float] | None:
        key, dim = group
        if key not in cache:
            embedder = self._embedder_for(key)
            vec = None
            if embedder is not None:
                try:
                    vec = (await embedder.embed([query]))[0]
                except Exception as e:  # noqa: BLE001 - fall back to full text for these rows
                    log.warning("query embedding with %s failed: %s", key, redact(str(e)))
            cache[key] = vec
        vec = cache[key]
        if vec is not None and len(vec) != dim:
            log.warning("embedding model %s now returns dimension %d, rows have %d: not compared", key, len(vec), dim)
            return None
        return vec

    async def search(self, app: str, user: str, query: str, limit: int = 10) -> builtins.list[MemoryEntry]:
        limit = max(1, min(int(limit), 100))
        query = (query or "").strip()
        for attempt in (1, 2):
            try:
                async with LazyConnection(self.engine, autocommit=self.autocommit_reads) as db:
                    found = await self._search(db, app, user, query, limit, validate=False)
                    if found is None:  # the cached scope was stale: once more, validated first
                        found = await self._search(db, app, user, query, limit, validate=True)
                break
            except sa.exc.DBAPIError as e:
                # a pooled connection the server dropped (no pre-ping on the search path): once more
                if attempt == 2 or not e.connection_invalidated:
                    raise
        return found or []

    async def _search(
        self, db: LazyConnection, app: str, user: str, query: str, limit: int, *, validate: bool
    ) -> builtins.list[MemoryEntry] | None:
        """One search. ``validate=False`` trusts the cached scope and checks its generation with the
        statement that fetches the result rows (one round trip in the steady state); ``None`` = the
        cache was stale, search again with ``validate=True`` (generation read first)."""
        lock = self._scope_locks.get((app, user))
        if lock is None:
            lock = self._scope_locks[(app, user)] = asyncio.Lock()
        rows: dict[str, Any] = {}
        async with lock:  # one index build per scope at a time
            scope = None if validate else self._scopes.get((app, user))
            if scope is None or scope.total == 0:
                scope, validate = await self._scope(await db.get(), app, user), True
            else:
                self._scopes.move_to_end((app, user))
            if scope.total == 0:
                return []
            vector: builtins.list[tuple[str, float]] = []
            searchable: set[Group] = set()
            qcache: dict[str, builtins.list[float] | None] = {}
            for group in sorted(scope.groups, key=lambda g: -scope.groups[g]) if query else []:
                vec = await self._query_vector(group, query, qcache)
                if vec is None:
                    continue
                searchable.add(group)
                conn = None if group in scope.matrices else await db.get()  # a cached index needs no SQL
                vector += await self._vector_hits(conn, scope, app, user, group, vec, limit, rows)
        if self.min_score is not None:
            vector = [h for h in vector if h[1] >= self.min_score]
        vector.sort(key=lambda h: -h[1])
        vector = vector[:limit]
        scores: dict[str, tuple[float, str]] = {i: (s, "vector") for i, s in vector}
        ranked = [i for i, _ in vector]
        reachable = sum(scope.groups[g] for g in searchable)
        if query and reachable < scope.total:
            text = await self._text_hits(await db.get(), app, user, query, limit, self._unsearchable(searchable))
            for i, s in text:
                scores.setdefault(i, (s, "text"))
            ranked = fuse([ranked, [i for i, _ in text]], limit) if ranked else [i for i, _ in text]
        if not ranked and query and searchable:
            text = await self._text_hits(await db.get(), app, user, query, limit, None)
            scores.update({i: (s, "text") for i, s in text})
            ranked = [i for i, _ in text]
        if not ranked:
            ranked = await self._recent(await db.get(), app, user, limit)
            scores = {i: (0.0, "recent") for i in ranked}
        generation = await self._fetch(db, app, user, ranked, rows)
        if not validate and generation != scope.generation:
            if self._scopes.get((app, user)) is scope:  # not a newer index another search just built
                del self._scopes[(app, user)]
            return None
        return [self._entry(rows[i], *scores[i]) for i in ranked if i in rows]

    # -- re-embedding primitives (used by ReembedJob) --------------------------------------
    def _not_on(self, key: str, dim: int | None) -> Any:
        t = self.table
        cond = [t.c.embedding_model.is_(None), t.c.embedding.is_(None), t.c.embedding_model != key]
        if dim is not None:
            cond.append(t.c.dim != dim)
        return sa.or_(*cond)

    async def reembed_pending(self, key: str, dim: int | None = None) -> int:
        """Rows not embedded with model ``key`` (and ``dim`` when known)."""
        q = sa.select(sa.func.count()).select_from(self.table).where(self._not_on(key, dim))
        async with self.engine.connect() as conn:
            return int((await conn.execute(q)).scalar_one())

    async def reembed_models(self, key: str) -> dict[str | None, int]:
        """Row counts per model among rows not on ``key`` (``None`` = not embedded)."""
        t = self.table
        q = sa.select(t.c.embedding_model, sa.func.count()).where(self._not_on(key, None)).group_by(t.c.embedding_model)
        async with self.engine.connect() as conn:
            return {m: int(n) for m, n in await conn.execute(q)}

    async def reembed_batch(self, key: str, dim: int | None, after_id: int, limit: int) -> builtins.list[dict[str, Any]]:
        """The next ``limit`` rows (by id, after ``after_id``) not on ``key``: id, text, scope, updated_at."""
        t = self.table
        q = (
            sa.select(t.c.id, t.c.app_name, t.c.user_id, t.c.content, t.c.category, t.c.updated_at)
            .where(self._not_on(key, dim), t.c.id > after_id)
            .order_by(t.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [
                {"id": int(r.id), "app": r.app_name, "user": r.user_id, "text": entry_text(r.content, r.category),
                 "updated_at": r.updated_at}  # fmt: skip
                for r in await conn.execute(q)
            ]

    async def reembed_write(self, rows: builtins.list[dict[str, Any]], vectors: builtins.list[builtins.list[float]], key: str, dim: int) -> None:
        """Store new vectors; a row edited since it was read (``updated_at`` moved) is left alone."""
        await self._ensure_model(key, dim)
        t = self.table
        stmt = (
            sa.update(t)
            .where(t.c.id == sa.bindparam("b_id"), t.c.updated_at == sa.bindparam("b_updated"))
            .values(embedding=sa.bindparam("b_emb"), embedding_model=key, dim=dim)
        )
        params = [
            {"b_id": r["id"], "b_updated": r["updated_at"], "b_emb": self._encode(v)} for r, v in zip(rows, vectors, strict=True)
        ]
        async with write_tx(self.engine) as conn:
            await conn.execute(stmt, params)
            for app, user in sorted({(r["app"], r["user"]) for r in rows}):
                await self._bump(conn, app, user)
        for r in rows:
            self._scopes.pop((r["app"], r["user"]), None)
