"""``ReembedJob``: move every memory of a store onto the store's current embedding model.

Contract:

* Progress lives in ``memory_reembed_jobs`` (in the store's own database), one row per job:
  ``total``, ``done``, ``status`` (``running`` → ``done`` | ``failed``; ``superseded`` when the model
  changed again before it finished), ``error``, timestamps.
* Rows are processed in id order, in batches; each batch is embedded, then written in one
  transaction. Nothing but the rows' vectors changes, so search keeps working throughout (old rows
  are still searched with their old model, or by full text, see :mod:`magec.memory.longterm`).
* **Resumable**: the work left is always "rows not yet on the new model", read from the rows
  themselves. A new process calls :meth:`ReembedJob.start` — it finds the unfinished job for the
  store (same target model) and continues it; ``done`` is recomputed as ``total - remaining``.
* ``on_progress(info)`` is called after every batch (the CLI draws a progress bar from it).
* **One runner at a time** is the caller's business: :class:`magec.memory.runtime_hook.MemoryService`
  holds a lease per store while it runs a job and passes ``keep`` to :meth:`ReembedJob.run`, asked
  before every batch (renews the lease; ``False`` — the lease was lost — stops the run, leaving the
  job ``running`` for the new holder). A run also stops when the job was superseded meanwhile.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.errors import ConfigError
from magec.memory._sql import write_tx
from magec.memory.embedder import EmbedderLike
from magec.memory.tables import memory_reembed_jobs as jobs
from magec.redact import redact

log = logging.getLogger(__name__)

UNFINISHED = ("pending", "running", "failed")


class Reembeddable(Protocol):
    """What a store offers the job (both long-term stores implement it)."""

    engine: AsyncEngine
    embedder: EmbedderLike | None
    store_id: str

    async def reembed_pending(self, key: str, dim: int | None = None) -> int: ...

    async def reembed_models(self, key: str) -> dict[str | None, int]: ...

    async def reembed_batch(self, key: str, dim: int | None, after_id: int, limit: int) -> list[dict[str, Any]]: ...

    async def reembed_write(self, rows: list[dict[str, Any]], vectors: list[list[float]], key: str, dim: int) -> None: ...


@dataclass
class JobInfo:
    id: str
    store_id: str
    from_model: str | None
    to_model: str
    total: int
    done: int
    status: str
    error: str | None
    created_at: float
    updated_at: float
    finished_at: float | None

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else min(1.0, self.done / self.total)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "storeId": self.store_id,
            "fromModel": self.from_model,
            "toModel": self.to_model,
            "total": self.total,
            "done": self.done,
            "status": self.status,
            "error": self.error,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "finishedAt": self.finished_at,
        }


ProgressCallback = Callable[[JobInfo], "Awaitable[None] | None"]


def _info(row: Any) -> JobInfo:
    return JobInfo(
        id=row.id, store_id=row.store_id, from_model=row.from_model, to_model=row.to_model, total=int(row.total),
        done=int(row.done), status=row.status, error=row.error, created_at=float(row.created_at),
        updated_at=float(row.updated_at), finished_at=None if row.finished_at is None else float(row.finished_at),
    )  # fmt: skip


async def get_job(engine: AsyncEngine, job_id: str) -> JobInfo | None:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
    return None if row is None else _info(row)


async def list_jobs(engine: AsyncEngine, store_id: str | None = None) -> list[JobInfo]:
    q = sa.select(jobs).order_by(jobs.c.created_at.desc())
    if store_id is not None:
        q = q.where(jobs.c.store_id == store_id)
    async with engine.connect() as conn:
        return [_info(r) for r in await conn.execute(q)]


class ReembedJob:
    """Re-embeds ``store``'s rows with ``store.embedder``; see the module docstring."""

    def __init__(self, store: Reembeddable, *, batch_size: int = 64, on_progress: ProgressCallback | None = None) -> None:
        if store.embedder is None:
            raise ConfigError("re-embedding needs an embedding model on the memory provider")
        self.store = store
        self.embedder: EmbedderLike = store.embedder
        self.batch_size = batch_size
        self.on_progress = on_progress
        self.id: str | None = None

    async def find_unfinished(self) -> JobInfo | None:
        async with self.store.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(jobs)
                    .where(jobs.c.store_id == self.store.store_id, jobs.c.status.in_(UNFINISHED))
                    .order_by(jobs.c.created_at.desc())
                    .limit(1)
                )
            ).first()
        return None if row is None else _info(row)

    async def get_job(self, job_id: str | None = None) -> JobInfo | None:
        job_id = job_id or self.id
        return None if job_id is None else await get_job(self.store.engine, job_id)

    async def start(self) -> JobInfo:
        """Resume this store's unfinished job for the current model, or create one."""
        key = self.embedder.key
        unfinished = await self.find_unfinished()
        now = time.time()
        if unfinished is not None and unfinished.to_model == key:
            self.id = unfinished.id
            return unfinished
        async with write_tx(self.store.engine) as conn:
            if unfinished is not None:  # the model changed again: the old target is moot
                await conn.execute(
                    sa.update(jobs).where(jobs.c.id == unfinished.id).values(status="superseded", updated_at=now, finished_at=now)
                )
        models = await self.store.reembed_models(key)
        total = sum(models.values())
        from_model = max((m for m in models if m is not None), key=lambda m: models[m], default=None)
        self.id = uuid.uuid4().hex
        status = "running" if total else "done"
        async with write_tx(self.store.engine) as conn:
            await conn.execute(
                sa.insert(jobs).values(
                    id=self.id, store_id=self.store.store_id, from_model=from_model, to_model=key, total=total, done=0,
                    status=status, created_at=now, updated_at=now, finished_at=None if total else now,
                )  # fmt: skip
            )
        info = await self.get_job()
        assert info is not None
        return info

    async def _set(self, **values: Any) -> JobInfo:
        assert self.id is not None
        values["updated_at"] = time.time()
        async with write_tx(self.store.engine) as conn:
            await conn.execute(sa.update(jobs).where(jobs.c.id == self.id).values(**values))
        info = await self.get_job()
        assert info is not None
        return info

    async def _progress(self, info: JobInfo) -> None:
        if self.on_progress is None:
            return
        result = self.on_progress(info)
        if result is not None:
            await result

    async def run(self, max_batches: int | None = None, keep: Callable[[], Awaitable[bool]] | None = None) -> JobInfo:
        """Run (or continue) the job until no row is left; ``max_batches`` stops early (tests, pacing);
        ``keep`` is asked before every batch and stops the run when it answers False (see above).

        A provider failure marks the job ``failed`` with the (redacted) error and returns; calling
        :meth:`start` + :meth:`run` again resumes it.
        """
        info = await self.start() if self.id is None else await self.get_job()
        assert info is not None
        if info.status in ("done", "superseded"):
            return info
        key = self.embedder.key
        remaining = await self.store.reembed_pending(key, self.embedder_dim())
        info = await self._set(status="running", error=None, done=max(0, info.total - remaining), total=max(info.total, remaining))
        await self._progress(info)
        batches = 0
        for _ in range(3):
            # One pass in id order; another pass only if rows fell behind meanwhile (edited while
            # the provider was down, say). A pass that finds nothing ends the run.
            after_id, processed = 0, 0
            while max_batches is None or batches < max_batches:
                if keep is not None and not await keep():
                    log.info("re-embed job %s: lease lost, stopping (another process continues it)", self.id)
                    return info
                rows = await self.store.reembed_batch(key, self.embedder_dim(), after_id, self.batch_size)
                if not rows:
                    break
                try:
                    vectors = await self.embedder.embed([r["text"] for r in rows])
                except Exception as e:  # noqa: BLE001 - recorded on the job; resumable
                    log.warning("re-embed job %s failed: %s", self.id, redact(str(e)))
                    return await self._set(status="failed", error=redact(str(e)))
                await self.store.reembed_write(rows, vectors, key, len(vectors[0]))
                after_id = rows[-1]["id"]
                batches += 1
                processed += len(rows)
                done = jobs.c.done + len(rows)
                info = await self._set(done=sa.case((done > jobs.c.total, jobs.c.total), else_=done))
                await self._progress(info)
                if info.status == "superseded":  # the model changed again: the new job takes over
                    return info
            if processed == 0 or (max_batches is not None and batches >= max_batches):
                break
        remaining = await self.store.reembed_pending(key, self.embedder_dim())
        if remaining == 0:
            info = await self._set(status="done", done=jobs.c.total, finished_at=time.time())
            await self._progress(info)
        return info

    def embedder_dim(self) -> int | None:
        dim = getattr(self.embedder, "dim", None)
        return dim if isinstance(dim, int) else None
