"""``PgVectorLongTermStore``: long-term memory in PostgreSQL with pgvector (the ``postgres`` provider).

Same contract and search order as :class:`~magec.memory.sql_longterm.SqlLongTermStore` (which it
extends); the vector and full-text primitives run in SQL:

* table ``memory_vectors`` (own ``pgvector_metadata``: the store manages its schema at
  :meth:`start`, because the provider points at a database the migrations do not own), with an
  untyped ``vector`` column so rows of several models can coexist;
* one **partial HNSW cosine index per (model, dim)**, on ``(embedding::vector(dim))`` ``WHERE
  embedding_model = '<key>' AND dim = <dim>`` — created when the store first meets that model, so
  a model change never hits a fixed-size column (pgvector's multi-dimension recipe);
* full text: ``to_tsvector('simple', …)`` GIN index, OR-ed query words ranked by ``ts_rank``;
* ``hnsw.iterative_scan = relaxed_order`` so per-user filtering never starves the index scan, and
  ``hnsw.ef_search``, set once per pooled connection; a vector search is one statement returning
  the whole top-k rows and the scope generation (one round trip).

If ``CREATE EXTENSION vector`` fails, :meth:`start` raises ``ConfigError`` and :meth:`health`
reports :data:`~magec.memory.longterm.PGVECTOR_MISSING`.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from magec.errors import ConfigError
from magec.memory.embedder import EmbedderLike, ResolveEmbedder
from magec.memory.longterm import PGVECTOR_MISSING, query_terms
from magec.memory.owners import fill_clients, owner_client
from magec.memory.sql_longterm import _GENERATION, Group, SqlLongTermStore, _Scope
from magec.memory.tables import create_memory_tables, memory_reembed_jobs, memory_scopes, memory_sets
from magec.redact import redact

log = logging.getLogger(__name__)

pgvector_metadata = sa.MetaData()

memory_vectors = sa.Table(
    "memory_vectors",
    pgvector_metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("app_name", sa.String(255), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("category", sa.String(255), nullable=True),
    sa.Column("author", sa.String(64), nullable=False, server_default="agent"),
    sa.Column("embedding", Vector(), nullable=True),
    sa.Column("embedding_model", sa.String(512), nullable=True),
    sa.Column("dim", sa.Integer, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # the owner key's client part, as memory_entries.client
    sa.Column("client", sa.String(255), nullable=False, server_default="", default=owner_client),
    sa.Index("ix_memory_vectors_scope", "app_name", "user_id", "embedding_model", "dim"),
    sa.Index("ix_memory_vectors_recent", "app_name", "user_id", "created_at"),
    sa.Index("ix_memory_vectors_model", "embedding_model", "id"),
)

#: Session settings of every pooled connection (startup packet: no per-query ``SET``). Iterative
#: scans keep an HNSW scan going until ``LIMIT`` rows pass the per-user filter.
_SERVER_SETTINGS = {"hnsw.iterative_scan": "relaxed_order"}

_TSV = "to_tsvector('simple', content || ' ' || coalesce(category, ''))"


def asyncpg_url(connection_string: str) -> str:
    """``postgres://…`` (Magec style, libpq ``sslmode``) → a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    parts = urlsplit(connection_string.strip())
    scheme = parts.scheme.lower()
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        scheme = "postgresql+asyncpg"
    else:
        raise ConfigError(f"not a PostgreSQL connection string (scheme {parts.scheme!r})")
    query = []
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if k == "sslmode":  # asyncpg spells it ``ssl``
            k = "ssl"
        query.append((k, v))
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _has_sqlstate(error: BaseException) -> bool:
    """Whether PostgreSQL itself answered (asyncpg server errors carry a ``sqlstate``)."""
    seen: builtins.set[int] = set()
    todo: builtins.list[BaseException | None] = [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if getattr(e, "sqlstate", None):
            return True
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return False


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class PgVectorLongTermStore(SqlLongTermStore):
    """Long-term memory in PostgreSQL + pgvector; ``url`` is a connection string (``postgres://…``)."""

    table = memory_vectors
    tables = (memory_scopes, memory_sets, memory_reembed_jobs)
    #: HNSW candidate list size per query (pgvector's default is 40; more = better recall, slower).
    ef_search = 64
    autocommit_reads = True

    def __init__(
        self,
        url: str,
        embedder: EmbedderLike | None,
        *,
        store_id: str = "default",
        resolve_embedder: ResolveEmbedder | None = None,
        min_score: float | None = None,
    ) -> None:
        engine = create_async_engine(
            asyncpg_url(url),
            # no pre-ping (a round trip per checkout): a search on a dropped connection is retried
            pool_pre_ping=False,
            hide_parameters=True,
            connect_args={"server_settings": {**_SERVER_SETTINGS, "hnsw.ef_search": str(self.ef_search)}},
        )
        super().__init__(
            engine, embedder, store_id=store_id, resolve_embedder=resolve_embedder, min_score=min_score, create_tables=True
        )
        self._indexed: set[Group] = set()

    async def _create_extension(self) -> tuple[bool, str] | None:
        """``CREATE EXTENSION IF NOT EXISTS vector``: ``None`` when done, else ``(server_refused, reason)``.

        ``server_refused`` tells "PostgreSQL answered no" (extension missing, permission denied)
        from "could not talk to PostgreSQL" (the reason is then a connection problem).
        """
        try:
            async with self.engine.begin() as conn:
                await conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
        except Exception as e:  # noqa: BLE001 - reported as a clear config problem
            text = str(getattr(e, "orig", None) or e).strip()
            reason = redact(text.splitlines()[0] if text else type(e).__name__)
            return _has_sqlstate(e), reason
        return None

    async def start(self) -> None:
        failed = await self._create_extension()
        if failed is not None:
            refused, reason = failed
            raise ConfigError(f"{PGVECTOR_MISSING} ({reason})" if refused else f"cannot connect to PostgreSQL: {reason}")
        await create_memory_tables(self.engine, self.tables)
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda c: pgvector_metadata.create_all(c))
            await conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS ix_memory_vectors_fts ON memory_vectors USING gin ({_TSV})"))
            # a table made before memories were counted per client gets the column, filled from
            # each row's owner key (what migration 0013 does for memory_entries)
            added = await conn.execute(sa.text(
                "SELECT 1 FROM information_schema.columns WHERE table_name = 'memory_vectors' AND column_name = 'client'"))
            if added.first() is None:  # IF NOT EXISTS: another worker or replica starting at once may add it first
                await conn.execute(sa.text(
                    "ALTER TABLE memory_vectors ADD COLUMN IF NOT EXISTS client varchar(255) NOT NULL DEFAULT ''"))
                await conn.execute(fill_clients(memory_vectors, "postgresql"))
            await conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_memory_vectors_client ON memory_vectors (client)"))

    async def close(self) -> None:
        await super().close()
        await self.engine.dispose()

    async def health(self) -> tuple[bool, str]:
        failed = await self._create_extension()
        if failed is not None:
            refused, reason = failed
            return False, f"{PGVECTOR_MISSING} ({reason})" if refused else f"cannot connect to PostgreSQL: {reason}"
        try:
            async with self.engine.connect() as conn:
                version = (
                    await conn.execute(sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
                ).scalar_one_or_none()
                exists = (await conn.execute(sa.text("SELECT to_regclass('memory_vectors')"))).scalar_one_or_none()
                n = (await conn.execute(sa.select(sa.func.count()).select_from(self.table))).scalar_one() if exists else 0
        except Exception as e:  # noqa: BLE001 - health reports, never raises
            return False, redact(f"database error: {str(e).splitlines()[0]}")
        model = self.embedder.key if self.embedder else "none (full-text search only)"
        return True, f"pgvector {version}; {n} memories; embedding model {model}"

    # -- per-model HNSW index --------------------------------------------------------------
    async def _ensure_model(self, key: str, dim: int, current: bool = True) -> None:
        await super()._ensure_model(key, dim, current)
        if (key, dim) in self._indexed:
            return
        name = "ix_memory_vectors_hnsw_" + hashlib.sha1(f"{key}\0{dim}".encode()).hexdigest()[:16]
        ddl = (
            f"CREATE INDEX IF NOT EXISTS {name} ON memory_vectors USING hnsw "
            f"((embedding::vector({int(dim)})) vector_cosine_ops) "
            f"WHERE embedding_model = {_literal(key)} AND dim = {int(dim)}"
        )
        async with self.engine.begin() as conn:
            # as the driver's SQL, not sa.text: that reads ":tag" in a model key ("org/:tag") as a
            # bind parameter (the key is a quoted literal here; DDL takes no parameters)
            await conn.exec_driver_sql(ddl)
        self._indexed.add((key, dim))

    def _encode(self, vec: builtins.list[float] | None) -> Any:
        return vec

    # -- search primitives -----------------------------------------------------------------
    async def _vector_hits(
        self, conn: AsyncConnection | None, scope: _Scope, app: str, user: str, group: Group, vec: builtins.list[float], limit: int,
        rows: dict[str, Any],
    ) -> builtins.list[tuple[str, float]]:
        assert conn is not None  # never cached in-process: always given a connection
        key, dim = group
        t = self.table
        emb = sa.cast(t.c.embedding, Vector(dim))
        # the query vector is sent once (8 KB of text at 384-d): ORDER BY the select-list label
        dist = emb.cosine_distance(sa.cast(sa.bindparam("q", str(vec)), Vector(dim))).label("distance")
        gen = sa.select(memory_scopes.c.generation).where(memory_scopes.c.app_name == app, memory_scopes.c.user_id == user)
        # whole rows and the scope generation in the same statement: a plain vector search is one
        # round trip (the hnsw.* settings are per connection, see ``_SERVER_SETTINGS``)
        q = (
            sa.select(*self._columns(), dist, gen.scalar_subquery().label("scope_generation"))
            .where(t.c.app_name == app, t.c.user_id == user)
            # literal model/dim: the planner must see the partial index's predicate verbatim
            .where(t.c.embedding_model == sa.bindparam("m", key, literal_execute=True))
            .where(t.c.dim == sa.bindparam("d", dim, literal_execute=True))
            .order_by(dist)
            .limit(limit)
        )
        ef_search = max(self.ef_search, int(limit) * 4)
        if ef_search == self.ef_search:
            found = (await conn.execute(q)).all()
        else:  # a big limit: a wider candidate list for this query only (the connection is autocommit)
            await conn.execute(sa.text("SELECT set_config('hnsw.ef_search', :v, false)"), {"v": str(ef_search)})
            try:
                found = (await conn.execute(q)).all()
            except BaseException:
                # failed or cancelled mid-query: the connection leaves the pool rather than return
                # with the wide setting (a reset query on it could fail and mask the error)
                await conn.invalidate()
                raise
            await conn.execute(sa.text("SELECT set_config('hnsw.ef_search', :v, false)"), {"v": str(self.ef_search)})
        for r in found:
            rows[str(r.id)] = r
            rows[_GENERATION] = int(r.scope_generation or 0)
        # relaxed order may return neighbours slightly out of order; re-sort exactly
        return sorted(((str(r.id), 1.0 - float(r.distance)) for r in found), key=lambda h: -h[1])

    async def _text_hits(
        self, conn: AsyncConnection, app: str, user: str, query: str, limit: int, only: Any | None
    ) -> builtins.list[tuple[str, float]]:
        terms = query_terms(query)
        if not terms:
            return []
        t = self.table
        tsq = sa.func.to_tsquery("simple", " | ".join(terms))
        tsv: Any = sa.literal_column(_TSV)
        score = sa.func.ts_rank(tsv, tsq).label("score")
        q = sa.select(t.c.id, score).where(t.c.app_name == app, t.c.user_id == user, tsv.op("@@")(tsq))
        if only is not None:
            q = q.where(only)
        q = q.order_by(sa.desc("score"), t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        return [(str(r.id), float(r.score)) for r in await conn.execute(q)]
