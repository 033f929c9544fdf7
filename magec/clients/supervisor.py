"""The worker supervisor: one worker per enabled client of a worker type, live, on one replica.

Contract:

* Started by the composition root (:mod:`magec.server`) with the worker of each type
  (``{"telegram": telegram.run, …, "cron": cron.run}``); :meth:`Supervisor.close` stops every
  worker and gives its leases back.
* **Live.** Every committed configuration change (this replica's writes and other replicas'
  epochs, :meth:`Store.subscribe`) wakes the reconcile loop, which reads the newest runtime
  (``RuntimeManager.fresh``) and starts the workers of new or re-enabled clients, restarts a worker
  whose client row (or a ``${KEY}`` it expands) changed, and stops the workers of disabled or
  deleted clients. Nothing needs a restart.
* **Read-your-writes.** A write of this process (``Store.on_commit``, after the runtime caught up)
  returns only once a reconcile that started after it has finished when it changed what should
  run: the Admin API's answer to "enable this bot" already shows it running (or failed), and a
  deleted or disabled client's worker has stopped. Writes that change no client cost nothing.
* **Single owner.** A worker runs only while this replica holds the client's lease
  (``worker:<clientId>``, :mod:`magec.clients.lease`), renewed every ``ttl / 3`` seconds. A
  replica that dies stops renewing; another one takes the lease over once it expired (within
  ``ttl`` plus one tick). A replica that cannot renew stops its workers before its lease runs out.
* **Nothing received is lost.** Every worker gets the bots' inbox (``ctx.inbox``,
  :mod:`magec.clients.inbox`); a worker starts only once the one it replaces has stopped (or was
  left behind after its grace), so the messages the new one finds unfinished are nobody else's.
* **Restarts.** A worker that raises (or returns) is recorded (``status.failed``) and started
  again after a backoff (1 s doubling to 60 s, reset after a minute of running).
* **Status.** :meth:`status_view` is what the Admin API shows as a client's ``status``:
  ``{running, connected, identity, lastError, lastMessageAt, …, owner}``; ``owner`` is
  ``"this replica"``'s id or the replica holding the lease, so an operator sees where a bot runs.
  :func:`state_of` sums it up as one live ``state``; a disabled client's is ``disabled`` on every
  replica at once (its row says so), whatever error it last recorded (``lastError`` stays, as
  history).

Tuning (environment, read at start): ``MAGEC_CLIENT_LEASE_TTL`` (seconds, default 30) and
``MAGEC_REPLICA_ID`` (default ``<host>:<pid>:<random>``, :func:`~magec.clients.lease.process_owner`;
with it, a lease held by a crashed process of this host is taken over at once by the next start,
:mod:`magec.clients.lease`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from magec.clients.conversation import Conversations
from magec.clients.inbox import BotInbox
from magec.clients.lease import Leases, process_owner
from magec.clients.workers import Worker, WorkerContext, WorkerStatus
from magec.context import AppContext
from magec.redact import redact

log = logging.getLogger(__name__)

DEFAULT_TTL = 30.0
_MAX_BACKOFF = 60.0
#: how long a cancelled worker may take to stop
_STOP_GRACE = 10.0


def state_of(view: Mapping[str, Any], enabled: bool) -> str:
    """The live state of a client's worker from its status view: ``disabled`` (the client is, so
    nothing runs it, whatever it last recorded), ``connected``, ``running`` (here or on another
    replica), ``error`` (not running, and it failed last) or ``stopped``. ``lastError`` is history:
    it only decides between ``error`` and ``stopped`` for an enabled client that is not running."""
    if not enabled:
        return "disabled"
    if view.get("connected"):
        return "connected"
    if view.get("running") or view.get("runningElsewhere"):
        return "running"
    return "error" if view.get("lastError") else "stopped"


def lease_name(client_id: str) -> str:
    return f"worker:{client_id}"


def replica_id() -> str:
    # <host>:<pid>:<random> (process_owner): a restart on this host takes a crashed process's leases at once
    return os.environ.get("MAGEC_REPLICA_ID") or process_owner()


def lease_ttl() -> float:
    raw = os.environ.get("MAGEC_CLIENT_LEASE_TTL", "")
    try:
        value = float(raw) if raw else DEFAULT_TTL
    except ValueError:
        log.warning("MAGEC_CLIENT_LEASE_TTL=%r is not a number; using %s s", raw, DEFAULT_TTL)
        value = DEFAULT_TTL
    return max(value, 1.0)


@dataclass
class _Running:
    task: asyncio.Task[None]
    version: str


class Supervisor:
    def __init__(
        self,
        ctx: AppContext,
        workers: Mapping[str, Worker],
        *,
        conversations: Conversations | None = None,
        inbox: BotInbox | None = None,
        owner: str | None = None,
        ttl: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.workers = dict(workers)
        self.conversations = conversations or Conversations(ctx)
        self.inbox = inbox or BotInbox(ctx.store.engine, ctx.store.cipher)
        self.owner = owner or replica_id()
        self.ttl = ttl or lease_ttl()
        self.tick = self.ttl / 3
        self.leases = Leases(ctx.store.engine, self.owner, self.ttl)
        self.statuses: dict[str, WorkerStatus] = {}
        self._running: dict[str, _Running] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None
        self._reconciled = asyncio.Event()
        # reconcile generations: a settle() waiter needs a pass that *started* after its request
        self._requested = 0
        self._finished = 0
        self._settled = asyncio.Condition()
        self._unhook: Any = None

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._unsubscribe = self.ctx.store.subscribe(lambda _epoch: self._wake.set())
        self._unhook = self.ctx.store.on_commit(self._settle)
        self._loop = asyncio.create_task(self._run(), name="client-supervisor")

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._unhook is not None:
            self._unhook()
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(BaseException):
                await self._loop
        for cid in list(self._running):
            await self._stop(cid, release=True)

    def poke(self) -> None:
        """Reconcile now (used by the Admin API after a write, and by tests)."""
        self._wake.set()

    def _in_line(self) -> bool:
        """Whether the running workers already match the runtime's configuration (no reconcile
        needed for a write to be served). Lease state is not consulted: a lease lost to another
        replica is the tick's business, not a write's."""
        rt = self.ctx.runtime.current() if self.ctx.runtime is not None else None
        if rt is None:
            return False
        snap = rt.snapshot
        desired = {cid: c for cid, c in snap.clients.items() if c.enabled and c.type in self.workers}
        if set(self._running) - set(desired):
            return False
        for cid, client in desired.items():
            running = self._running.get(cid)
            version = snap.versions.get(("clients", cid), "") + ":" + client.type
            if running is None or running.version != version:
                return False
        return True

    async def _settle(self, _epoch: int) -> None:
        """The ``on_commit`` hook (see the contract): wait for a reconcile when the write changed
        what should run. Bounded: a stuck database must not hold an Admin write forever."""
        if self._loop is None or self._loop.done() or self._in_line():
            return
        self._requested += 1
        wanted = self._requested
        self._wake.set()
        async with self._settled:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait_for(lambda: self._finished >= wanted), 2 * self.tick + 5)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            generation = self._requested
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - the loop must outlive a database hiccup
                log.warning("client supervisor: reconcile failed: %s", redact(repr(err)))
                await self._stop_expired()
            self._reconciled.set()
            async with self._settled:
                self._finished = max(self._finished, generation)
                self._settled.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick)

    # -- reconcile -----------------------------------------------------------------------------
    async def reconcile(self) -> None:
        """Bring the running workers in line with the newest configuration (see the contract)."""
        assert self.ctx.runtime is not None
        rt = await self.ctx.runtime.fresh()
        snap = rt.snapshot
        desired = {
            cid: c for cid, c in snap.clients.items() if c.enabled and c.type in self.workers
        }
        for cid in list(self._running):
            if cid not in desired:
                await self._stop(cid, release=True)
        for cid in list(self.statuses):
            if cid not in snap.clients:
                del self.statuses[cid]
        for cid, client in desired.items():
            status = self.statuses.setdefault(cid, WorkerStatus())
            try:
                held = await self.leases.acquire(lease_name(cid))
            except Exception as err:  # noqa: BLE001 - keep running until our lease would expire
                log.warning("client %s: lease renewal failed: %s", cid, redact(repr(err)))
                continue
            if not held:
                if cid in self._running:
                    await self._stop(cid, release=False)  # another replica took over
                status.running = False
                status.is_connected = False
                continue
            version = snap.versions.get(("clients", cid), "") + ":" + client.type
            current = self._running.get(cid)
            if current is not None and current.version == version and not current.task.done():
                continue
            if current is not None:
                await self._stop(cid, release=False)
            ctx = WorkerContext(
                client_id=cid,
                config=client.config,
                conversations=self.conversations,
                status=status,
                public_url=self.ctx.config.public_url or None,
                client_type=client.type,
                client=client.dump(),
                replica=self.owner,
                grace=float(self.ctx.config.shutdown_grace),
                inbox=self.inbox,
            )
            status.running = True  # from now on, not from the task's first step: the write's answer shows it
            task = asyncio.create_task(self._supervise(ctx, self.workers[client.type]), name=f"client-worker:{cid}")
            self._running[cid] = _Running(task, version)

    async def _stop_expired(self) -> None:
        now = time.monotonic()
        for cid in list(self._running):
            if self.leases.valid_until(lease_name(cid)) <= now:
                log.warning("client %s: lease could not be renewed in time; stopping its worker", cid)
                await self._stop(cid, release=False)

    async def _stop(self, cid: str, *, release: bool) -> None:
        running = self._running.pop(cid, None)
        if running is not None:
            running.task.cancel()
            # a worker that ignores cancellation must not hold up a restart or the shutdown; one
            # finishing the messages it is answering gets their grace on top (botkit.finish)
            done, _ = await asyncio.wait({running.task}, timeout=_STOP_GRACE + float(self.ctx.config.shutdown_grace))
            if not done:
                log.warning("client %s: worker did not stop within %s s; left behind", cid, _STOP_GRACE)
        status = self.statuses.get(cid)
        if status is not None:
            status.running = False
            status.is_connected = False
        if release:
            with contextlib.suppress(Exception):
                await self.leases.release(lease_name(cid))

    async def _supervise(self, ctx: WorkerContext, worker: Worker) -> None:
        backoff = 1.0
        status = ctx.status
        while True:
            started = time.monotonic()
            status.running = True
            status.started_at = time.time()
            try:
                await worker(ctx)
                status.failed("the worker stopped")
            except asyncio.CancelledError:
                status.running = False
                status.is_connected = False
                raise
            except Exception as err:  # noqa: BLE001 - recorded, then restarted with backoff
                log.warning("client %s worker failed: %s", ctx.client_id, redact(str(err) or repr(err)))
                status.failed(str(err) or type(err).__name__)
            status.running = False
            status.restarts += 1
            if time.monotonic() - started > _MAX_BACKOFF:
                backoff = 1.0
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    # -- views ---------------------------------------------------------------------------------
    def runs_here(self, client_id: str) -> bool:
        running = self._running.get(client_id)
        return running is not None and not running.task.done()

    async def status_view(self, client_id: str, client_type: str, enabled: bool) -> dict[str, Any] | None:
        """The ``status`` object of a client in the Admin API (None for types without a worker)."""
        if client_type not in self.workers:
            return None
        if self.runs_here(client_id):
            view = self.statuses[client_id].view()
            view["owner"] = self.owner
            return view
        view = WorkerStatus().view()
        holder = await self.leases.holder(lease_name(client_id)) if enabled else None
        if holder is not None:
            owner, expires = holder
            if expires > datetime.now(UTC):
                view["owner"] = owner
                view["runningElsewhere"] = True
                return view
        view["owner"] = None
        if client_id in self.statuses:
            view.update({k: v for k, v in self.statuses[client_id].view().items() if k.startswith("last")})
        return view
