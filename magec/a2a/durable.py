"""A2A tasks written to the database, so ``tasks/get`` answers on every replica and after a restart.

A2A clients send a message, get a task back (at once with ``blocking: false`` / ``returnImmediately``)
and poll ``tasks/get`` for its end. Kept only in the memory of the process that ran it, the task was
"not found" on another replica behind a load balancer, and lost for good when the process
restarted: an acknowledged request gone. :class:`DurableTaskStore` keeps the in-memory store
(:class:`~magec.a2a.service.BoundedTaskStore`: the hot copy, bounded per owner) and writes each task
through to ``a2a_tasks`` (:mod:`magec.a2a.tables`):

* the first save of a task is written before a2a-sdk answers with it; when the database cannot take
  it the request fails (nothing is acknowledged that is not on disk), as a read that fails does:
  the client reads :data:`UNAVAILABLE`, never the driver's text. Later writes that fail are
  logged: this process still answers from memory, and another one sees the task end as below;
* a running task is written when it starts, at most every :data:`WRITE_EVERY` seconds while it runs
  (a streamed answer saves the task once per token), and whenever it is not running (finished,
  failed, cancelled, waiting for input): the row always holds the task's end;
* ``get`` answers from memory, else from the row — scoped by owner (app and client) as in memory;
  an ended task in memory is answered only while its row is there (one primary-key read: a
  deleted client's rows are deleted on the replica that deleted it, and a client restored with
  its id must not read another replica's copy);
  an ended row is final: a task cancelled on another replica reads ``canceled`` here too, and the
  turn running here is stopped (a2a-sdk cancels only what runs in its own process): the rows of the
  tasks running here are checked every :data:`CHECK_EVERY` seconds, and a write or read that finds
  the row ended tells the turn at once (:meth:`DurableTaskStore.cancel_signal`);
* a running task's row carries its process and a lease (:data:`TTL`, renewed while it runs). A
  row still running whose process is gone — at once for a dead process of this host, after the
  lease elsewhere — is answered ``failed`` with ``errorCode: unavailable`` ("send the message
  again"), and written so, once (a conditional update: two replicas never both rewrite it): the
  turn may have done part of its work through tools, so it is not run twice behind the client's
  back, as an accepted webhook run (:mod:`magec.clients.accepted`);
* a task the memory forgets (its owner's share of the bound) is deleted from the table too, and
  rows older than :data:`KEEP` go (an A2A client polls its task within minutes, not days).

The task is stored encrypted (it holds the messages). Time is the replicas' UTC clock.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

import sqlalchemy as sa
from a2a.server.context import ServerCallContext
from a2a.types import a2a_pb2 as pb
from a2a.utils.errors import InternalError
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.a2a.service import BoundedTaskStore
from magec.a2a.tables import a2a_tasks
from magec.clients.lease import process_gone, process_owner
from magec.errors import UnavailableError
from magec.redact import redact
from magec.store.crypto import Cipher
from magec.store.tables import as_utc

log = logging.getLogger(__name__)

#: seconds a running task's row stays its process's own without a renewal
TTL = 30.0
#: seconds between two writes of a task while it runs (its end is always written)
WRITE_EVERY = 1.0
#: seconds between two checks for a cancel made elsewhere of the tasks running here (one query)
CHECK_EVERY = 1.0
#: rows older than this are deleted
KEEP = timedelta(days=1)
#: seconds between two purges of old rows (one per process)
PURGE_EVERY = 3600.0
#: what the client of a task whose process died reads in its status message
LOST = "magec stopped while answering this task and its answer was lost: please send the message again"
#: what an A2A client reads when the database cannot take or give its task: a2a-sdk answers any
#: other exception with its text, and a driver's names the SQL, the tables, the database's host
UNAVAILABLE = "magec could not reach its database for this task: send the request again shortly"

_RUNNING = frozenset({pb.TaskState.TASK_STATE_SUBMITTED, pb.TaskState.TASK_STATE_WORKING})
#: an A2A task in one of these states never changes again
_ENDED = frozenset({pb.TaskState.TASK_STATE_COMPLETED, pb.TaskState.TASK_STATE_FAILED,
                    pb.TaskState.TASK_STATE_CANCELED, pb.TaskState.TASK_STATE_REJECTED})


def _digest(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()


def _owner_key(context: ServerCallContext) -> str:
    return _digest(context.user.user_name)


def _unavailable(task_id: str, err: Exception) -> InternalError:
    """The client's error for a database failure (the details go to the log, redacted)."""
    log.warning("A2A task %s: the database failed (%s)", task_id, redact(str(err)))
    return InternalError(message=UNAVAILABLE, data={"errorCode": UnavailableError.code})


def lost(task: pb.Task) -> pb.Task:
    """``task`` ended ``failed`` because its process is gone (see the module contract)."""
    ended = pb.Task()
    ended.CopyFrom(task)
    message = pb.Message(message_id=str(uuid.uuid4()), role=pb.Role.ROLE_AGENT, parts=[pb.Part(text=LOST)])
    message.metadata.update({"errorCode": UnavailableError.code})
    ended.status.Clear()
    ended.status.state = pb.TaskState.TASK_STATE_FAILED
    ended.status.message.CopyFrom(message)
    ended.status.timestamp.GetCurrentTime()
    return ended


class DurableTaskStore(BoundedTaskStore):
    """:class:`BoundedTaskStore` written through to ``a2a_tasks`` (see the module contract)."""

    def __init__(self, engine: AsyncEngine, cipher: Cipher, limit: int, max_bytes: int | None,
                 *, process: str | None = None, ttl: float = TTL) -> None:
        super().__init__(limit, max_bytes)
        self.engine = engine
        self.cipher = cipher
        self.process = process or process_owner()
        self.ttl = ttl
        #: task id -> monotonic time of its last write, for the tasks running here
        self._written: dict[str, float] = {}
        self._renewer: asyncio.Task[None] | None = None
        #: task id -> (owner digest, event) of the turns running here, set when cancelled elsewhere
        #: (a follow-up message to a running task runs another turn of it: they share the event)
        self._signals: dict[str, tuple[str, asyncio.Event]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._purged = -PURGE_EVERY  # the first write purges (monotonic time may start near 0 at boot)

    def _seal(self, task: pb.Task) -> str:
        return self.cipher.encrypt(base64.b64encode(task.SerializeToString()).decode())

    def _open(self, sealed: str) -> pb.Task:
        return pb.Task.FromString(base64.b64decode(self.cipher.decrypt(sealed)))

    def _until(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.ttl)

    async def save(self, task: pb.Task, context: ServerCallContext) -> None:
        await super().save(task, context)
        running = task.status.state in _RUNNING
        last = self._written.get(task.id)
        if running and last is not None and time.monotonic() - last < WRITE_EVERY:
            return
        first = last is None
        try:
            ended = await self._write(task, _owner_key(context))
        except Exception as err:
            if first:  # the task is not acknowledged: the client is not told of a task nobody keeps
                raise _unavailable(task.id, err) from None
            log.warning("A2A task %s: not written to the database (%s)", task.id, redact(str(err)))
            ended = None
        if ended is not None:  # it ended elsewhere (cancelled on another replica): as every reader sees it
            await super().save(ended, context)
            self._signal(task.id)
            running = False
        if running:
            self._written[task.id] = time.monotonic()
            self._keep_renewing()
        else:
            self._written.pop(task.id, None)

    async def _write(self, task: pb.Task, owner: str) -> pb.Task | None:
        """Write ``task`` down; an ended row is final: then the task as it ended (else None)."""
        if time.monotonic() - self._purged > PURGE_EVERY:
            await self._purge()
        t = a2a_tasks
        now = datetime.now(UTC)
        values = {"state": int(task.status.state), "task": self._seal(task), "process": self.process,
                  "expires_at": self._until(), "updated_at": now}
        ended = [int(s) for s in _ENDED]
        async with self.engine.begin() as conn:
            changed = await conn.execute(sa.update(t).where(t.c.task_id == task.id, t.c.owner == owner,
                                                            t.c.state.not_in(ended)).values(**values))
            if changed.rowcount:
                return None
            final = (await conn.execute(sa.select(t.c.task).where(t.c.task_id == task.id, t.c.owner == owner))).scalar()
            if final is not None:
                return self._open(str(final))
            try:
                async with conn.begin_nested():
                    await conn.execute(t.insert().values(task_id=task.id, owner=owner, **values))
            except sa.exc.IntegrityError:  # another owner's task of that id: never overwritten
                log.warning("A2A task %s: the id is another owner's; not written", task.id)
        return None

    async def get(self, task_id: str, context: ServerCallContext) -> pb.Task | None:
        task = await super().get(task_id, context)
        t = a2a_tasks
        owner = _owner_key(context)
        if task is not None and task.status.state not in _RUNNING:
            return await self._still_stored(task, context, owner)
        try:
            async with self.engine.connect() as conn:
                row = (await conn.execute(sa.select(t.c.task, t.c.state, t.c.process, t.c.expires_at)
                                          .where(t.c.task_id == task_id, t.c.owner == owner))).one_or_none()
        except Exception as err:
            if task is not None:  # running here: as this process knows it
                log.warning("A2A task %s: not read from the database (%s)", task_id, redact(str(err)))
                return task
            raise _unavailable(task_id, err) from None
        if task is not None:  # running here: unless it was cancelled on another replica meanwhile
            if row is None or row.state not in _ENDED:
                return task
            ended = self._open(str(row.task))
            await super().save(ended, context)
            self._signal(task_id)
            return await BoundedTaskStore.get(self, task_id, context)  # a copy: the caller may change it
        if row is None:
            return None
        try:
            stored = self._open(str(row.task))
        except Exception as err:  # another encryption key, a damaged row: as good as gone
            log.warning("A2A task %s cannot be read (%s)", task_id, redact(str(err)))
            return None
        if row.state not in _RUNNING or row.process == self.process:
            return stored
        if as_utc(row.expires_at) > datetime.now(UTC) and not process_gone(str(row.process), self.process):
            return stored  # running on a live process (another replica): as it last wrote it
        ended = lost(stored)
        try:
            async with self.engine.begin() as conn:
                # the process read is the condition: of two replicas answering, one writes the end
                await conn.execute(sa.update(t).where(t.c.task_id == task_id, t.c.process == row.process,
                                                      t.c.state == row.state)
                                   .values(state=int(ended.status.state), task=self._seal(ended),
                                           process=self.process, updated_at=datetime.now(UTC)))
        except Exception as err:  # the next read writes it: the answer is the same
            log.warning("A2A task %s: its end not written (%s)", task_id, redact(str(err)))
        return ended

    async def state_of(self, task_id: str, context: ServerCallContext) -> pb.TaskState | None:
        task = await self._peek(task_id, context)
        if task is not None and task.status.state not in _RUNNING:
            return task.status.state
        t = a2a_tasks
        try:
            async with self.engine.connect() as conn:
                row = (await conn.execute(sa.select(t.c.state, t.c.process, t.c.expires_at)
                                          .where(t.c.task_id == task_id, t.c.owner == _owner_key(context)))).one_or_none()
        except Exception as err:
            raise _unavailable(task_id, err) from None
        if row is None:
            return None if task is None else task.status.state
        if row.state in _RUNNING and row.process != self.process and (
                as_utc(row.expires_at) <= datetime.now(UTC) or process_gone(str(row.process), self.process)):
            return await super().state_of(task_id, context)  # its process is gone: get() says so, once
        return cast(pb.TaskState, row.state)  # the enum's number, as a task holds it

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        await super().delete(task_id, context)
        await self._delete(task_id, _owner_key(context))

    async def _still_stored(self, task: pb.Task, context: ServerCallContext, owner: str) -> pb.Task | None:
        """An ended task held here, if its row is still there: a deleted client's rows go with it
        on whichever replica deleted it (:func:`magec.a2a.tables.forget_client_tasks`), and a
        client restored with its id must not read the copy another replica still holds. The
        database unreachable: the copy is answered (a task that ended is final)."""
        try:
            async with self.engine.connect() as conn:
                row = (await conn.execute(sa.select(a2a_tasks.c.state).where(
                    a2a_tasks.c.task_id == task.id, a2a_tasks.c.owner == owner))).first()
        except Exception as err:  # noqa: BLE001 - answered from memory, as a running task is
            log.warning("A2A task %s: not read from the database (%s)", task.id, redact(str(err)))
            return task
        if row is None:
            await self._forget(context.user.user_name, task.id)
            return None
        return task

    async def _forget(self, owner: str, task_id: str) -> None:
        await super()._forget(owner, task_id)
        self._written.pop(task_id, None)
        try:
            await self._delete(task_id, _digest(owner))
        except Exception as err:
            log.warning("A2A task %s: not deleted from the database (%s)", task_id, redact(str(err)))

    async def _delete(self, task_id: str, owner: str) -> None:
        t = a2a_tasks
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(t).where(t.c.task_id == task_id, t.c.owner == owner))

    async def _purge(self) -> None:
        self._purged = time.monotonic()
        t = a2a_tasks
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(t).where(t.c.updated_at < datetime.now(UTC) - KEEP))

    def cancel_signal(self, task_id: str, owner: str) -> asyncio.Event | None:
        digest = _digest(owner)
        watched = self._signals.get(task_id)
        if watched is None or watched[0] != digest:
            watched = self._signals[task_id] = (digest, asyncio.Event())
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return watched[1]

    def forget_signal(self, task_id: str) -> None:
        self._signals.pop(task_id, None)

    def _signal(self, task_id: str) -> None:
        if (watched := self._signals.get(task_id)) is not None:
            watched[1].set()

    async def _watch(self) -> None:
        """While turns run here: every :data:`CHECK_EVERY` seconds, one query for those whose row
        ended elsewhere (a cancel through another replica), and tell them."""
        t = a2a_tasks
        ended = [int(s) for s in _ENDED]
        while self._signals:
            await asyncio.sleep(CHECK_EVERY)
            watched = dict(self._signals)
            if not watched:
                return
            try:
                async with self.engine.connect() as conn:
                    rows = (await conn.execute(sa.select(t.c.task_id, t.c.owner)
                                               .where(t.c.task_id.in_(list(watched)), t.c.state.in_(ended)))).all()
            except Exception as err:  # a database hiccup: the next round looks again
                log.warning("A2A tasks: cancels made elsewhere not checked (%s)", redact(str(err)))
                continue
            for row in rows:
                if watched[row.task_id][0] == row.owner:
                    self._signal(row.task_id)

    async def close(self) -> None:
        """Stop renewing leases (the process stops: its running tasks' rows expire) and watching."""
        for task in (self._renewer, self._watcher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _keep_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        """While tasks run here: renew their rows' lease every third of it."""
        t = a2a_tasks
        while self._written:
            await asyncio.sleep(self.ttl / 3)
            running = list(self._written)
            if not running:
                return
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(sa.update(t).where(t.c.task_id.in_(running), t.c.process == self.process)
                                       .values(expires_at=self._until()))
            except Exception as err:  # a database hiccup: the next round tries again
                log.warning("A2A tasks: leases not renewed (%s)", redact(str(err)))
