"""``magec serve``: both apps in one process and one event loop, with clean shutdown.

Start-up order: config → data dir → database (migrations) → encryption key → store → runtime →
apps. The data dir is created 0700 and the SQLite database file made 0600 (it holds conversations
and encrypted secrets). The admin app listens on :meth:`Config.admin_bind_host` — loopback unless
an admin password is set — and start-up is refused before anything is opened when a non-loopback
admin address is asked for without a password. SIGTERM/SIGINT stop both servers gracefully
(running streams get uvicorn's grace period).

This is the **composition root**: the one module that knows every first-party part and wires them
explicitly — the runtime's build hooks (MCP tools, long-term memory, flows) and the services the
APIs reach through the manager (``manager.memory``, ``manager.mcp``) in :func:`_start_runtime`
(with the per-backend circuit breakers wrapping every agent's chat model), the live backend health
monitor task (:func:`_health_monitor`, stopped with the context),
and each app's routers in :func:`user_app` / :func:`admin_app`. Every caller (``magec serve``, the
CLI, :mod:`magec.testing.apps`, tests, the bench) builds through these functions, so tests run the
real wiring. The parts are imported inside the functions only so that ``magec migrate`` and
``import-magec`` do not load ADK and FastAPI (about 1.5 s); they are ordinary imports, seen by mypy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from magec import __version__
from magec.a2a.tables import forget_client_tasks
from magec.api import slow_clients
from magec.backends import clients_held
from magec.backends import rules as backend_rules
from magec.clients import rules as client_rules
from magec.clients.purge import forget_client_rows
from magec.clients.tables import forget_client
from magec.config import Config, listen_address
from magec.config_view import SnapshotCache
from magec.context import AppContext
from magec.flows import rules as flow_rules
from magec.heap import collection_paused, settled_heap
from magec.memory import rules as memory_rules
from magec.metrics import TurnCounter
from magec.resources import rules as resource_rules
from magec.store.crypto import load_cipher
from magec.store.epochs import EpochBoard
from magec.store.migrate import upgrade
from magec.store.pool import database_error, describe, pool_sizing
from magec.store.store import Store, make_engine
from magec.voice.realtime.limits import MAX_FRAME_BYTES

if TYPE_CHECKING:
    from fastapi import FastAPI

    from magec.backends.health import HealthMonitor
    from magec.backup.sections import Section
    from magec.clients.accepted import AcceptedRuns, Orphan
    from magec.clients.workers import Worker, WorkerContext
    from magec.skills.runtime_hook import SkillsHook
    from magec.workers.supervisor import WorkerSlot

log = logging.getLogger("magec")


def save_rules() -> dict[str, tuple[resource_rules.Rule, ...]]:
    """Every kind's save-time rules, from their owners; for a kind, in this order."""
    return resource_rules.merge(
        resource_rules.CORE, memory_rules.RULES, flow_rules.RULES, backend_rules.RULES, client_rules.RULES
    )


def backup_sections() -> tuple[Section, ...]:
    """The tables a backup carries besides resources and settings (docs/backup.md); a subsystem
    with its own tables adds its :class:`~magec.backup.sections.Section` here."""
    from magec.backup.builtin import BUILTIN

    return (*BUILTIN,)


@contextlib.asynccontextmanager
async def open_context(
    config: Config, *, start_runtime: bool = True, start_clients: bool = False, announce_key: bool = True
) -> AsyncIterator[AppContext]:
    """Open the store (migrating it) and the runtime; close everything on exit. ``start_clients``
    also starts the client supervisor (bots and cron jobs, :func:`_start_clients`);
    ``announce_key=False`` (a store opened before the server's own) leaves the encryption-key
    warning to the server's start (:func:`magec.store.crypto.load_cipher`)."""
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # magec's own secrets are hidden wherever text leaves the process, as stored ones are
    from sqlalchemy.engine import make_url

    from magec.config_view.snapshot import protect_environment
    from magec.redact import register_secret

    url = config.resolved_database_url()
    try:
        db_password = make_url(url).password
    except Exception:  # noqa: BLE001 - a URL that does not parse is reported below
        db_password = None
    own = (config.admin_password, config.encryption_key, config.metrics_token, db_password)
    protect_environment(*own)  # no stored resource's ${VAR} reads them, whatever variable held them
    for value in own:
        # a short one ("admin", a test's "k") is a word: hidden wherever it stands alone, it would
        # mangle texts (stored conversation audits included)
        if value and len(value) >= 8:
            register_secret(value)
    # the pool is sized from the turn limits; an exhausted pool answers 503 (magec.store.pool)
    try:  # a database magec cannot open is a one-line error naming database.url, not a traceback
        engine = make_engine(url, pool_sizing(url, config.max_runs, config.db_pool_size, config.db_pool_timeout))
        async with engine.connect():
            pass
    except Exception as e:
        if (mapped := database_error(e, url)) is None:
            raise
        raise mapped from None
    await upgrade(engine)  # past the first connection a failure is a bug to see whole, not a bad URL
    _restrict_sqlite_files(config.resolved_database_url())
    cipher = load_cipher(config.encryption_key, config.data_dir, announce=announce_key)
    store = Store(engine, cipher, snapshots=SnapshotCache(), rules=save_rules())
    await store.start()
    store.delete_hooks.extend((forget_client, forget_client_rows, forget_client_tasks))
    # SQLite file: every process on it (magec serve --workers N) publishes its commits here, first
    board = EpochBoard.for_database(config.resolved_database_url())
    if board is not None:
        await board.attach(store)
        store.on_commit(board.on_commit)
    ctx = AppContext(config=config, store=store)
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(store.watch_epoch())]
    # the backends' SDK clients of this loop stay open while a context is (magec.backends._shared)
    clients = clients_held()
    await clients.__aenter__()
    try:
        if start_runtime:
            await _start_runtime(ctx)
            tasks.append(asyncio.create_task(_health_monitor(ctx).run()))
            tasks.append(asyncio.create_task(_accepted_runs(ctx).run(_orphan_teller(ctx))))
            if start_clients:
                await _start_clients(ctx)
        with settled_heap() if start_runtime else contextlib.nullcontext():
            yield ctx
    finally:
        if start_runtime:  # accepted webhook runs finish (or are told to retry) while backends are open
            from magec.api.user.webhooks import drain

            await drain(ctx, float(config.shutdown_grace))
        for t in tasks:
            t.cancel()
        # the epoch watcher and the health monitor unwind before the store closes under them
        await asyncio.gather(*tasks, return_exceptions=True)
        supervisor = ctx.extras.pop("clients", None)
        if supervisor is not None:
            await supervisor.close()
        a2a = ctx.extras.pop("a2a", None)
        if a2a is not None:  # its running tasks' leases stop being renewed (they expire)
            await a2a.close()
        if ctx.runtime is not None:
            await ctx.runtime.close()
        await clients.__aexit__(None, None, None)
        await store.close()
        if board is not None:
            board.close()


def _restrict_sqlite_files(url: str) -> None:
    """Make a SQLite database (and its journal/WAL files) readable by this user only."""
    if not url.startswith("sqlite") or ":memory:" in url or "///" not in url:
        return
    path = Path(url.split("///", 1)[1].split("?", 1)[0])
    for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(OSError):  # absent, or not ours to change: nothing to tighten
            p.chmod(0o600)


async def _start_runtime(ctx: AppContext) -> None:
    """The runtime manager with every build hook, in the order their contributions apply."""
    from magec.a2a import preload as a2a_preload
    from magec.agents.apps import BuildDeps
    from magec.backends.breaker import Breakers
    from magec.config_view.snapshot import StoreSnapshot
    from magec.flows import runtime_hook as flows
    from magec.memory.runtime_hook import MemoryHook, MemoryService
    from magec.runtime.manager import RuntimeManager
    from magec.tools.mcp_hook import McpHook
    from magec.tools.mcp_pool import McpPool

    mcp = McpPool()
    from magec.clients.lease import Leases
    from magec.clients.supervisor import replica_id
    from magec.memory.runtime_hook import lease_ttl

    # re-embed jobs run under a lease in the shared database: one process at a time (magec.memory.runtime_hook)
    memory = MemoryService(ctx.store.engine, Leases(ctx.store.engine, replica_id(), lease_ttl()))
    breakers = Breakers(ctx.config.breaker_failures, ctx.config.breaker_cooldown)
    ctx.extras["breakers"] = breakers  # one circuit breaker per backend, read by the Admin API views

    def guard_models(snap: StoreSnapshot, deps: BuildDeps) -> None:  # noqa: ARG001 - a BuildHook
        deps.guard = breakers.guard

    # the conversation audit: sees every turn (run_turn), writes in batches (magec.audit)
    from magec.audit.recorder import AuditRecorder
    from magec.costs.observe import TurnObservers

    audit = AuditRecorder(
        ctx.store.engine,
        ctx.metrics.registry,
        # the retention the periodic prune applies: the running configuration's, read when it runs
        settings=lambda: getattr(ctx.runtime.current().snapshot.settings, "conversations", None) if ctx.runtime else None,
        # the periodic prune runs once per host: in worker 0 of magec serve --workers N
        prune_interval=3600.0 if ctx.config.worker_index == 0 else math.inf,
    )
    ctx.extras["audit"] = audit
    audit.start()

    # admission (limits.maxRuns…): refuses a turn over a concurrency limit before anything runs
    from magec.runtime.admission import Admission
    from magec.runtime.admission import Limits as RunLimits

    admission = Admission(RunLimits(ctx.config.max_runs, ctx.config.max_runs_per_client, ctx.config.max_runs_per_backend))
    from magec.backends._limits import size_pools

    size_pools(ctx.config.max_runs, ctx.config.max_runs_per_backend)  # providers' HTTP pools, from the same limits
    ctx.extras["admission"] = admission
    ctx.metrics.runs_in_flight.set_function(lambda: float(admission.in_flight))

    # stored conversations per client (limits.maxSessionBytesPerClient): refused before anything runs
    from magec.memory.session_quota import SessionQuota

    quota = SessionQuota(
        ctx.store.engine, ctx.config.max_session_bytes_per_client,
        lambda: ctx.runtime.current().snapshot.clients if ctx.runtime else {},
        session_limit=ctx.config.max_session_bytes,
    )
    ctx.extras["session_quota"] = quota  # also checked when the SQL session service opens a session

    turn_counter = TurnCounter(ctx.metrics.turns)

    def observe_turns(snap: StoreSnapshot, deps: BuildDeps) -> None:  # noqa: ARG001 - a BuildHook
        # the quota admits first (it may read), then admission, the costs service (it may refuse a
        # turn: a spent budget) and the audit begin in that order; the turn counter last, so a
        # refused turn is not counted as one that ran
        deps.turn_observer = TurnObservers(quota, admission, ctx.extras.get("costs"), audit, turn_counter)

    ctx.runtime = RuntimeManager(
        ctx,
        [guard_models, observe_turns, McpHook(mcp), MemoryHook(memory, ctx.config.max_memories_per_user, ctx.config.max_memories_per_client),
         _skills_hook(ctx), flows.install, a2a_preload],
        memory=memory,
        mcp=mcp,
        closers=[audit.close, mcp.close, memory.close],
    )
    # artifacts (docs/artifacts.md): every runner's artifact service, the agents' tools, the links;
    # per-agent secrets ({{secret:KEY}} in tool calls, live values, redaction): magec.agents.secrets
    from magec.agents.secrets import LiveSecrets
    from magec.artifacts.runtime_hook import Artifacts
    from magec.artifacts.service import Limits

    cfg = ctx.config
    artifacts = await Artifacts.open(
        ctx.store.engine,
        ctx.store.cipher,
        Limits(cfg.artifact_max_bytes, cfg.artifact_max_per_session, cfg.artifact_max_session_bytes,
               cfg.artifact_max_user_bytes, cfg.artifact_max_client_bytes),
        ttl=cfg.artifact_url_ttl,
        public_url=cfg.public_url or f"http://localhost:{cfg.port}",
        agent_tools=cfg.artifact_agent_tools,
        clients=lambda: ctx.runtime.current().snapshot.clients if ctx.runtime else {},
    )
    ctx.extras["artifacts"] = artifacts
    ctx.runtime.hooks.extend([artifacts, LiveSecrets(lambda: ctx.store.list_items("secrets"))])
    # flow runs, costs and budgets (docs/costs.md): a turn observer counting every usage row
    from magec.costs.service import CostService

    costs = CostService(ctx.store.engine, ctx.runtime.usage)
    ctx.extras["costs"] = costs
    ctx.metrics.usage_rows_read.set_function(lambda: float(costs.counters.tally.rows_read))
    ctx.metrics.usage_recounts.set_function(lambda: float(costs.counters.tally.recounts))
    ctx.runtime.closers.append(costs.close)
    await costs.start()
    # session retention (settings.sessions.retentionDays): idle conversations go, once per host
    from magec.memory.session_retention import SessionRetention

    runtime = ctx.runtime

    async def drop_artifacts(keys: list[tuple[str, str, str]], saved_before: float) -> None:
        for app, user, sid in keys:  # a pruned session's own artifacts go with it (docs/sessions.md)
            await artifacts.service.delete_session(app_name=app, user_id=user, session_id=sid, saved_before=saved_before)

    retention = SessionRetention(
        runtime.stored_sessions,
        lambda: runtime.current().snapshot.settings.sessions,
        interval=3600.0 if ctx.config.worker_index == 0 else math.inf,
        on_deleted=drop_artifacts,
    )
    ctx.extras["session_retention"] = retention
    ctx.metrics.sessions_pruned.set_function(lambda: float(retention.pruned))
    runtime.closers.insert(0, retention.close)  # before the services it deletes through close
    await runtime.start()
    retention.start()


def _skills_hook(ctx: AppContext) -> SkillsHook:
    """Agents' skills: inline ones as instruction paragraphs, packages as ADK's skill toolset."""
    from magec.skills.files import SkillFiles
    from magec.skills.runtime_hook import SkillsHook

    return SkillsHook(SkillFiles(ctx.store.engine))


def client_workers() -> dict[str, Worker]:
    """The worker of each client type the supervisor runs (one per enabled client of the type).

    A type's module, with its platform SDK (python-telegram-bot, slack-sdk, discord.py…), is
    imported when its first client starts: a process with no bots never loads them (0.2–0.4 s of a
    start-up on a slow host). Cron has no SDK (and the Admin API imports it anyway)."""
    from magec.clients import cron

    return {"telegram": _telegram, "slack": _slack, "discord": _discord, "cron": cron.run}


async def _telegram(worker: WorkerContext) -> None:
    from magec.clients.telegram.bot import run

    await run(worker)


async def _slack(worker: WorkerContext) -> None:
    from magec.clients.slack import run

    await run(worker)


async def _discord(worker: WorkerContext) -> None:
    from magec.clients.discord import run

    await run(worker)


async def _start_clients(ctx: AppContext) -> None:
    """The conversation gateway (``ctx.extras["conversations"]``, for webhooks) and the client
    supervisor (``ctx.extras["clients"]``: bots and cron jobs, live, one replica each)."""
    from magec.clients.conversation import Conversations
    from magec.clients.inbox import BotInbox
    from magec.clients.supervisor import Supervisor

    conversations = ctx.extras.setdefault("conversations", Conversations(ctx))
    inbox = BotInbox(ctx.store.engine, ctx.store.cipher)  # the bots' received messages, written down first
    ctx.extras["bot_inbox"] = inbox  # the Telegram hook route writes there for a bot run by another process
    supervisor = Supervisor(ctx, client_workers(), conversations=conversations, inbox=inbox)
    ctx.extras["clients"] = supervisor
    await supervisor.start()


def _accepted_runs(ctx: AppContext) -> AcceptedRuns:
    """The ledger of accepted (202) webhook runs (``ctx.extras["accepted_runs"]``); its ``run``
    renews this process's runs and tells the callers of runs whose process died."""
    from magec.clients.accepted import AcceptedRuns

    ledger = ctx.extras["accepted_runs"] = AcceptedRuns(ctx.store.engine, ctx.store.cipher)
    return ledger


def _orphan_teller(ctx: AppContext) -> Callable[[Orphan], Awaitable[bool]]:
    from magec.api.user.webhooks import orphan_teller

    return orphan_teller(ctx)


def _health_monitor(ctx: AppContext) -> HealthMonitor:
    """The live backend health check (every ``server.healthInterval`` s), sharing the breakers."""
    from magec.backends.breaker import Breakers
    from magec.backends.health import HealthMonitor

    breakers = ctx.extras.setdefault("breakers", Breakers(ctx.config.breaker_failures, ctx.config.breaker_cooldown))
    monitor = HealthMonitor(ctx, breakers, ctx.config.health_interval)
    ctx.extras["health"] = monitor
    return monitor


def user_app(ctx: AppContext) -> FastAPI:
    """The user app (port 8080) with its routes: run API, OpenAI-compatible API, voice."""
    from magec.api.user import a2a as a2a_routes
    from magec.api.user import agent, bot_hooks, client_info, openai_compat, voice, voice_events, webhooks
    from magec.api.user import artifacts as artifact_routes
    from magec.api.user import ephemeral as ephemeral_routes
    from magec.api.user.app import create_user_app

    return create_user_app(
        ctx,
        routers=[
            agent.router(ctx),
            artifact_routes.router(ctx),
            ephemeral_routes.router(ctx),
            openai_compat.router(ctx),
            voice.router(ctx),
            client_info.router(ctx),
            voice_events.router(ctx),
            bot_hooks.router(ctx),
            webhooks.router(ctx),
            a2a_routes.router(ctx),
        ],
    )


def admin_app(ctx: AppContext) -> FastAPI:
    """The admin app (port 8081) with the routers of the parts it administers."""
    from magec.api.admin import backends, backup, clients, conversations, memory, playground, skills, voice
    from magec.api.admin import costs as admin_costs
    from magec.api.admin import mcps as admin_mcps
    from magec.api.admin import runs as admin_runs
    from magec.api.admin.app import create_admin_app

    return create_admin_app(
        ctx,
        routers=[
            backends.router(ctx),
            admin_mcps.router(ctx),
            memory.router(ctx),
            voice.router(ctx),
            playground.router(ctx),
            clients.router(ctx),
            conversations.router(ctx),
            skills.router(ctx),
            backup.router(ctx, backup_sections()),
            admin_costs.router(ctx),
            admin_runs.router(ctx),
        ],
    )


def _warn(config: Config, admin_host: str) -> None:
    if config.open_access == "network":
        log.warning(
            "server.openAccess is network: while no client exists, anyone who reaches port %s runs every "
            "agent (and its tools) and reads every conversation without a token",
            config.port,
        )
    if not config.admin_password:
        log.warning(
            "server.adminPassword is not set: the Admin API listens on %s:%s only (loopback); set "
            "server.adminPassword and server.adminHost to reach it from elsewhere",
            admin_host,
            config.admin_port,
        )


def _proxy_headers(config: Config) -> dict[str, Any]:
    """uvicorn believes ``X-Forwarded-For``/``-Proto`` from 127.0.0.1 unless told otherwise, which
    would let any local process (or a proxy that passes a client's header through) pick its own
    address past magec's rules (:func:`magec.api.auth.client_ip`): it believes exactly
    ``server.trustedProxies``, and nothing when there are none."""
    if not config.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(config.trusted_proxies)}


#: the largest WebSocket message uvicorn reads for magec (see :func:`_http_server`)
WS_MAX_BYTES = 2 * MAX_FRAME_BYTES


def _http_server(app: Any, config: Config, host: str, port: int) -> uvicorn.Server:
    """One port's uvicorn server, set up alike on every port: magec's own logging, streams given
    10 s to finish at shutdown, idle connections kept ``server.keepAlive``, the slow-client
    deadlines (:mod:`magec.api.slow_clients`) and only ``server.trustedProxies`` believed.

    ``ws_max_size``: uvicorn reads and queues a WebSocket message of up to 16 MiB (32 of them per
    connection) before magec's handler sees it, even before the client's token is checked. The
    largest message magec takes is a voice frame (``MAX_FRAME_BYTES``); twice that still reaches
    the handler, which answers it with a ``frame_too_big`` error, and anything larger is refused by
    the protocol layer (close 1009) without being held."""
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
            timeout_keep_alive=config.keep_alive,
            http=slow_clients.protocol(config.header_timeout, config.body_timeout),
            ws_max_size=WS_MAX_BYTES,
            **_proxy_headers(config),
        )
    )


def _mcp_server(admin: FastAPI, config: Config, host: str) -> uvicorn.Server:
    """The admin MCP server (``server.mcp.*``, docs/admin-mcp.md): every operation of ``admin`` as a
    tool, called in process through ``admin`` itself."""
    from magec.admin_mcp.server import AdminMcp

    log.info("admin MCP server on %s", listen_address(host, config.mcp_port, "/mcp"))
    return _http_server(AdminMcp(admin, config).asgi(), config, host, config.mcp_port)


def _drain_sse_streams() -> None:
    """Let the SDKs' event streams (A2A ``message/stream``, MCP) finish at shutdown like every
    other in-flight request (uvicorn's graceful timeout bounds them), instead of sse-starlette
    ending each within 0.5 s of a SIGTERM — an A2A answer then was cut mid-turn. magec's own
    streams never used it (:mod:`magec.api.streaming`); this is sse-starlette's documented switch."""
    try:
        from sse_starlette.sse import AppStatus
    except ImportError:  # pragma: no cover - the a2a and mcp extras bring it
        return
    AppStatus.disable_automatic_graceful_drain()


async def prepare(config: Config) -> None:
    """Ready the database (migrations, config row, encryption key) without a runtime: what the
    parent of ``magec serve --workers N`` does once before starting its workers."""
    async with open_context(config, start_runtime=False):
        pass


async def serve(config: Config, worker: WorkerSlot | None = None) -> None:
    """Serve until SIGTERM/SIGINT. ``worker``: one process of ``magec serve --workers N``
    (:mod:`magec.workers.supervisor`), serving the sockets its parent bound."""
    admin_host = config.admin_bind_host()  # refuses an exposed admin app without a password
    if worker is None or worker.primary:
        _warn(config, admin_host)
    mcp_host = config.mcp_bind_host() if config.mcp_enabled else ""  # same rule as the admin app
    _drain_sse_streams()
    async with open_context(config, start_clients=True) as ctx:
        if worker is None or worker.primary:
            from magec.backup.move import warn_unmoved

            await warn_unmoved(config, ctx.store.engine)
        with collection_paused():  # hundreds of routes' schemas: long-lived objects only (magec.heap)
            admin = admin_app(ctx)
            user = user_app(ctx)
        worker_metrics = worker.install(ctx, (user, admin)) if worker is not None else None
        servers = [
            _http_server(user, config, config.host, config.port),
            _http_server(admin, config, admin_host, config.admin_port),
        ]
        if config.mcp_enabled and (worker is None or worker.mcp is not None):
            servers.append(_mcp_server(admin, config, mcp_host))
        loop = asyncio.get_running_loop()

        def stop() -> None:
            log.info("shutting down")
            for s in servers:
                s.should_exit = True

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        for s in servers:
            s.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        if worker is not None and worker_metrics is not None:
            await worker_metrics.start()
            sockets = [[worker.user], [worker.admin], [worker.mcp] if worker.mcp else None]
            log.info("worker %d of %d serving (pid %d)", worker.index, worker.count, os.getpid())
        else:
            sockets = [None, None, None]
            log.info(
                "magec %s: user API on %s, admin on %s (database: %s)",
                __version__,
                listen_address(config.host, config.port),
                listen_address(admin_host, config.admin_port),
                describe(config.resolved_database_url()),
            )
        try:
            await asyncio.gather(*(s.serve(sockets=socks) for s, socks in zip(servers, sockets, strict=False)))
        finally:
            if worker_metrics is not None:
                await worker_metrics.close()
