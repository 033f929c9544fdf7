"""A deleted client's private data goes with it, so a client created again with the same id starts clean.

Everything a client's users left is stored under owner keys ``<percent-encoded client id>:<user>``
(:mod:`magec.memory.owners`) or under the client id itself. Contract:

* :func:`forget_client_rows` — a store delete hook (:attr:`magec.store.Store.delete_hooks`, also
  run by a restore for every client it drops), in the delete's own transaction: the small tables
  keyed by the client id — its unanswered bot messages (``bot_inbox``: a new client of that id
  would otherwise answer them); its A2A tasks go by
  :func:`magec.a2a.tables.forget_client_tasks`, another such hook. Cron runs and chats' ``/agent`` choices
  go in :func:`magec.clients.tables.forget_client`.
* :func:`purge_client` — after the delete committed, what may be large: its conversations
  (sessions, their events and state, and ``user:`` state of its users), their artifacts and its
  long-term memories (magec's database and every long-term store open in this process, pgvector
  too). It deletes in write transactions of at most :data:`BATCH` rows (sessions: also at most
  the retention's byte budget, :mod:`magec.memory.session_retention`), so no transaction holds
  SQLite's write lock, or a PostgreSQL row lock, for long, and the event loop runs between them.
  Before each batch it checks the client does not exist again (an admin re-created it meanwhile,
  maybe on another replica): the new client's data is never deleted. Deletes are idempotent, so
  two replicas or workers purging the same client do not conflict.
* The Admin API's ``DELETE /clients/{id}`` and a restore that drops a client await the purge
  before answering. Client ids are the server's (``POST /clients`` ignores one); an id comes back
  through a restore (id and token) or ``magec import-magec``: a restore purges each client it
  brings back that the server lacks *before* restoring, so a purge a crash cut short is finished
  before that token works again (the archive's own conversation sections are restored after).
* Kept: its accepted webhook signatures (see :func:`forget_client_rows`); usage/cost rows and
  the conversation audit, the operator's records (no client's token reaches them). The in-memory
  copy of its A2A tasks in this process is dropped (``ctx.extras["a2a"]``); another replica's
  is answered only while its row exists (:class:`magec.a2a.durable.DurableTaskStore`).
* Not reached: sessions of a Redis session provider (their ``ttl`` ends them) and memories in a
  PostgreSQL provider that no process has open.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from magec.memory._sql import write_tx

log = logging.getLogger(__name__)

#: rows (memories, artifacts) per write transaction; sessions go by the retention's batches
BATCH = 500
#: "idle since" for the session service's batch delete: every session of the client
_FUTURE = 1e12


def owner_prefix(client_id: str) -> str:
    """The ``client`` column's value for ``client_id`` (the owner key's client part)."""
    return quote(client_id, safe="")


async def forget_client_rows(conn: AsyncConnection, kind: str, id: str) -> None:
    """A store delete hook: the client's inbox (in the delete's transaction: bounded by the
    inbox's own limits). Its A2A task rows go in :func:`magec.a2a.tables.forget_client_tasks`, the
    same way. Its ``webhook_signatures`` stay: they only refuse a replay, and go by themselves
    minutes later; deleting them would let a request signed for the old client be replayed
    against a client restored with its id and secret."""
    if kind != "clients":
        return
    from magec.clients.tables import bot_inbox

    await conn.execute(sa.delete(bot_inbox).where(bot_inbox.c.client_id == id))


async def purge_client(ctx: Any, client_id: str) -> int:
    """Delete what the deleted client ``client_id`` left in conversations, artifacts and long-term
    memories, in batches; how many rows (sessions, artifacts, memories) went. Stops when the
    client exists again."""
    store = ctx.store
    prefix = owner_prefix(client_id)

    async def gone() -> bool:
        return not await store.exists("clients", client_id)

    deleted = 0
    a2a = ctx.extras.get("a2a")
    if a2a is not None:
        await a2a.tasks.forget_client(client_id)
    runtime = ctx.runtime
    if runtime is not None:
        raw = await store.all_raw()
        apps = [*raw.get("agents", {}), *raw.get("flows", {})]
        deleted += await _sessions(runtime.stored_sessions(), prefix, gone, apps)
    deleted += await _artifacts(store.engine, prefix, gone)
    stores, own = _longterm_stores(ctx)
    try:
        deleted += await _memories(stores, prefix, gone)
    finally:
        if own is not None:
            await own.close()
    if deleted:
        log.info("client %r deleted: %d of its conversations, artifacts and memories went with it", client_id, deleted)
    return deleted


async def _sessions(service: Any, prefix: str, gone: Any, apps: list[str]) -> int:
    from magec.memory.session_base import USER
    from magec.memory.session_retention import _batches, _Candidate
    from magec.memory.tables import session_sessions as ss
    from magec.memory.tables import session_state as st

    if not hasattr(service, "delete_idle"):
        return 0
    deleted = 0
    while await gone():
        q = sa.select(ss.c.update_time, ss.c.user_id, ss.c.session_id, ss.c.bytes, ss.c.app_name).where(
            ss.c.client == prefix).limit(BATCH)
        async with service.engine.connect() as conn:
            page = [_Candidate(float(t), u, s, int(n), a) for t, u, s, n, a in await conn.execute(q)]
        if not page:
            break
        for batch in _batches(page):
            deleted += len(await service.delete_idle([c.key for c in batch], _FUTURE))
    # its users' user: state, per app: a range of the primary key (app, scope, then the owner
    # keys from the prefix + ':'), one transaction per app
    for app in apps:
        if not await gone():
            break
        async with write_tx(service.engine) as conn:
            await conn.execute(sa.delete(st).where(
                st.c.app_name == app, st.c.scope == USER, st.c.user_id >= prefix + ":", st.c.user_id < prefix + ";"))
    return deleted


async def _artifacts(engine: AsyncEngine, prefix: str, gone: Any) -> int:
    from magec.artifacts.tables import artifacts as t

    key = (t.c.app_name, t.c.user_id, t.c.session_id, t.c.filename, t.c.version)  # the primary key
    deleted = 0
    while await gone():
        async with write_tx(engine) as conn:
            keys = [tuple(k) for k in await conn.execute(sa.select(*key).where(t.c.client == prefix).limit(BATCH))]
            if not keys:
                break
            await conn.execute(sa.delete(t).where(sa.tuple_(*key).in_(keys)))
        deleted += len(keys)
    return deleted


def _longterm_stores(ctx: Any) -> tuple[list[Any], Any]:
    """Magec's database's memories (whichever provider is active) and every store open here."""
    from magec.memory.sql_longterm import SqlLongTermStore

    memory = ctx.runtime.memory if ctx.runtime is not None else None
    stores = [s for s in (memory.open_stores() if memory is not None else []) if isinstance(s, SqlLongTermStore)]
    own = None  # none open on magec's database: one made for the purge (closed after it)
    if not any(s.engine is ctx.store.engine and s.table.name == "memory_entries" for s in stores):
        own = SqlLongTermStore(ctx.store.engine, None)
        stores.append(own)
    return stores, own


async def _memories(stores: list[Any], prefix: str, gone: Any) -> int:
    deleted = 0
    for lt in stores:
        while await gone():
            n = await _forget_memories(lt, prefix, BATCH)
            deleted += n
            if n < BATCH:
                break
    return deleted


async def _forget_memories(lt: Any, client: str, limit: int) -> int:
    """Delete up to ``limit`` memories of ``client`` from the long-term store ``lt`` (a
    :class:`~magec.memory.sql_longterm.SqlLongTermStore`, pgvector's too) in one write transaction;
    how many went. Each scope touched is bumped, so every process's cached index of it is read again."""
    t = lt.table
    async with write_tx(lt.engine) as conn:
        rows = (await conn.execute(
            sa.select(t.c.id, t.c.app_name, t.c.user_id).where(t.c.client == client).limit(limit))).all()
        if not rows:
            return 0
        await conn.execute(sa.delete(t).where(t.c.id.in_([r.id for r in rows])))
        for app, user in {(r.app_name, r.user_id) for r in rows}:
            await lt._bump(conn, app, user)  # noqa: SLF001 - the store's own scope generation
    return len(rows)
