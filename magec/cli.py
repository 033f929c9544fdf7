"""The ``magec`` command line."""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from magec.backup.cli import register as register_backup
from magec.config import Config, load_config
from magec.errors import ConfigError, MagecError
from magec.logs import setup_cli_logging, setup_logging

#: options of ``serve`` that take a value (to find the first positional argument past them)
_VALUED = frozenset({"--config", "-c", "--workers", "-w"})
_ROOT_ONLY = frozenset({"--help", "-h", "--install-completion", "--show-completion", "--version", "-V"})


def with_default_command(argv: list[str], commands: set[str]) -> list[str]:
    """``argv`` with ``serve`` as the command when none is named: Magec's binary has no
    subcommands (``magec --config config.yaml`` starts the server), so ours accepts that too.
    Options given before a named command move after it (``magec --config F migrate`` =
    ``magec migrate --config F``). Help and completion options and an empty line are left alone."""
    if not argv or argv[0] in _ROOT_ONLY:
        return argv
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("-"):
            if token in commands:  # a command after leading options: put them after it
                return [token, *argv[:i], *argv[i + 1 :]]
            return argv  # a positional we do not know: typer names it ("No such command")
        i += 2 if token in _VALUED else 1
    return ["serve", *argv]


def reflowed(doc: str) -> str:
    """A docstring as command help: its paragraphs kept, each one line (typer's rich help keeps a
    docstring's hard line breaks, so the text broke mid-sentence at any other width)."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


class _Typer(typer.Typer):
    """typer, with each command's help (its docstring) reflowed to the terminal's width."""

    def command(self, name: str | None = None, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:  # type: ignore[override]
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if kw.get("help") is None and fn.__doc__:
                kw["help"] = reflowed(fn.__doc__)
            return typer.Typer.command(self, name, **kw)(fn)

        return register


class _Cli(_Typer):
    """The ``magec`` entry point (``magec.cli:app``): typer, plus the default command."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        group = typer.main.get_command(self)
        names = set(getattr(group, "commands", {}))
        sys.argv[1:] = with_default_command(sys.argv[1:], names)
        return super().__call__(*args, **kwargs)


app = _Cli(help="magec: self-hosted multi-agent AI platform. Options with no command run serve (`magec --config config.yaml`, as Magec's binary).", no_args_is_help=True)
#: soft_wrap: off a terminal rich wraps at 80 columns, which split the "database:" and "migrated" lines
#: (paths, URLs) that scripts and operators read whole; a terminal wraps long lines itself
console = Console(stderr=True, soft_wrap=True)
ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="config.yaml (or $MAGEC_CONFIG)")]


def version() -> str:
    """``magec <version> (database schema <revision>)``: what an operator upgrading compares."""
    from magec import __version__
    from magec.store.migrate import schema_heads

    return f"magec {__version__} (database schema {schema_heads()})"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version())
        raise typer.Exit()


@app.callback()
def _root(
    show: Annotated[bool, typer.Option(
        "--version", "-V", is_eager=True, callback=_show_version,
        help="print the version and the database schema revision it migrates to, and exit",
    )] = False,
) -> None:
    """magec: self-hosted multi-agent AI platform. Options with no command run serve (`magec --config config.yaml`, as Magec's binary)."""


def error(e: Exception, prefix: str = "error:") -> None:
    """Print ``e`` as one ``<prefix>`` line on stderr (``backup failed:`` …): unwrapped (rich wraps
    at 80 columns when stderr is not a terminal), not read as rich markup (a path or a server's
    message with ``[/x]`` in it crashed the print) nor highlighted."""
    console.print(f"[red]{escape(prefix)}[/red] {escape(str(e))}", soft_wrap=True, highlight=False)


def _busy(listens: list[tuple[str, str, int]]) -> str:
    """Why one of ``(setting, host, port)`` cannot be listened on (e.g. another process has it), or
    "". A quick bind and close: uvicorn finding it out later printed three chained tracebacks after
    the migrations had run, and logged the other port as running."""
    import socket

    for name, host, port in listens:
        if not port:
            continue
        try:
            family, kind, proto, _, addr = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(addr)
        except OSError as e:
            return f"{name}: cannot listen on {host or '*'}:{port}: {e.strerror or e}"
    return ""


def _writing_to(cfg: Config) -> None:
    """Say which database a command that writes to it directly is about to change: a command run
    from another directory (or without the server's config) opens another one."""
    from magec.store.pool import describe

    console.print(f"database: {describe(cfg.resolved_database_url())}", highlight=False)


def _load(path: str | None) -> Config:
    """The configuration, or exit status 2 and one ``error:`` line."""
    try:
        return load_config(path)
    except MagecError as e:
        error(e)
        raise typer.Exit(2) from None


def _config(path: str | None) -> Config:
    """The configuration of a command other than ``serve``: its logs are a person's, not a log
    collector's (:func:`magec.logs.setup_cli_logging`)."""
    config = _load(path)
    setup_cli_logging(config.log_level)
    return config


@app.command()
def serve(
    config: ConfigOpt = None,
    demo: Annotated[
        bool, typer.Option(help="create a Local backend + agent + memory for an offline first run")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-w", min=1, max=256,
            help="processes serving the same ports (default: server.workers, $MAGEC_WORKERS, or 1)",
        ),
    ] = None,
) -> None:
    """Start the user API (default :8080) and the admin API + UI (default :8081)."""
    # the configuration is checked before the server's modules are imported (~2 s): a typo in
    # config.yaml, a refused admin address or a busy port is reported without that wait. Logging
    # is set up after that import, as before: what a library logs while imported stays unprinted.
    cfg = _load(config)
    if workers is not None:
        cfg.workers = workers
    try:
        admin_host = cfg.admin_bind_host()  # refuse an exposed, password-less Admin API before touching anything
        mcp_host = cfg.mcp_bind_host() if cfg.mcp_enabled else ""  # same for the admin MCP server (docs/admin-mcp.md)
    except MagecError as e:
        error(e)
        raise typer.Exit(2) from None
    listens = [("server.port", cfg.host, cfg.port), ("server.adminPort", admin_host, cfg.admin_port)]
    if cfg.mcp_enabled:
        listens.append(("server.mcp.port", mcp_host, cfg.mcp_port))
    busy = _busy(listens)
    if busy:  # before the database is migrated or a key generated: nothing to undo
        error(RuntimeError(busy))
        raise typer.Exit(1)
    from magec.heap import before_exit, collection_paused

    with collection_paused():  # ~1 s of imports (magec.heap)
        from magec.loop import run as run_loop
        from magec.server import serve as run

    setup_logging(cfg.log_level, cfg.log_format)

    try:
        if demo:
            from magec.demo import ensure_demo

            asyncio.run(ensure_demo(cfg, console))
        if cfg.workers > 1:  # a parent supervising N worker processes (magec.workers)
            from magec.server import prepare
            from magec.workers.supervisor import run as run_workers

            code = run_workers(cfg, cfg.workers, run, prepare)
            before_exit()
            raise typer.Exit(code)
        run_loop(run(cfg))
    except KeyboardInterrupt:
        pass
    except ConfigError as e:
        # found while opening the store (a stored secret the configured server.encryptionKey
        # cannot decrypt): the same one-line error and exit status as a bad config file
        error(e)
        raise typer.Exit(2) from None
    before_exit()


@app.command()
def migrate(config: ConfigOpt = None) -> None:
    """Apply database migrations (also done automatically at start-up)."""
    cfg = _load(config)  # a bad config file is reported before the store's modules are imported
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from magec.heap import collection_paused

    with collection_paused():  # the store's modules (and the server's, for its rules): magec.heap
        from magec.backup.move import MoveReport, copy_embedded
        from magec.server import backup_sections, save_rules
        from magec.store.migrate import current_revision, upgrade
        from magec.store.pool import database_error, describe
        from magec.store.store import make_engine

    # what was applied ("Running upgrade 0009 -> 0010") is this command's own output
    setup_cli_logging(cfg.log_level, shown=("alembic.runtime.migration",))

    moved: list[MoveReport | None] = []
    bar = Progress(TextColumn("[bold]copying[/bold] rows"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=console)

    def progress(total: int) -> Callable[[int], None]:
        task = bar.add_task("rows", total=total)
        return lambda n: bar.advance(task, n)

    async def run() -> str | None:
        cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        url = cfg.resolved_database_url()
        try:
            engine = make_engine(url)
            async with engine.connect():
                pass
        except Exception as e:
            raise database_error(e, url) or e from None
        try:  # past the first connection a failure is a bug to see whole, not a bad URL
            await upgrade(engine)
            # a new database.url next to a populated embedded SQLite: the data moves with it
            with bar:  # shows nothing unless a copy adds its task
                moved.append(await copy_embedded(cfg, engine, lambda m: console.print(m, highlight=False),
                                                 backup_sections(), save_rules(), progress))
            return await current_revision(engine)
        finally:
            await engine.dispose()

    try:
        rev = asyncio.run(run())
    except ConfigError as e:
        error(e)
        raise typer.Exit(2) from None
    # which database: run from another directory or without the server's config, migrate prepares
    # another one, and someone who set up PostgreSQL must see whether this run used it
    console.print(f"migrated {describe(cfg.resolved_database_url())}: at revision [bold]{rev}[/bold]",
                  highlight=False)
    report = moved[0] if moved else None
    if report is not None and report.skipped:
        console.print(f"the embedded SQLite database {report.source} was not copied: {report.skipped}",
                      highlight=False)
    elif report is not None:
        kinds = ", ".join(f"{n} {kind}" for kind, n in report.copied.items())
        console.print(f"copied from {report.source}: {kinds} and {report.rows} rows of conversation data, "
                      "memories and history; the SQLite file keeps its data", highlight=False)
    if not cfg.database_url:
        console.print(
            "no database.url is configured, so the data stays in the embedded SQLite database; to use "
            "PostgreSQL set database.url (MAGEC_DATABASE_URL), see docs/backup.md "
            "(\"Moving from SQLite to PostgreSQL\")", highlight=False,
        )


@app.command("import-magec")
def import_magec(
    path: Annotated[Path, typer.Argument(help="Magec data/store.json")],
    config: ConfigOpt = None,
    allow_stdio_mcp: Annotated[bool, typer.Option(
        "--allow-stdio-mcp", help="import stdio MCP servers: commands that run on this machine when an agent uses them",
    )] = False,
) -> None:
    """Load a Magec store.json into the store, keeping ids. Exits 1 when any item is not imported.

    A store.json is trusted: its stdio MCP servers run commands here and its client tokens keep
    working. Stdio MCP servers are listed and imported only with --allow-stdio-mcp (or a yes at the
    prompt, on a terminal); the report lists every command and credential the import brought."""
    from magec.heap import collection_paused

    with collection_paused():  # ~1 s of imports (magec.heap)
        from magec.import_check import stdio_servers
        from magec.importer import ImportCounts, import_store, stdio_refusal
        from magec.server import open_context

    cfg = _config(config)
    try:  # read before anything is opened: a mistyped path creates no database and no key
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, OSError, UnicodeDecodeError) as e:
        console.print(f"[red]import failed:[/red] {path}: {e}")
        raise typer.Exit(1) from None
    servers = stdio_servers(data) if isinstance(data, dict) and isinstance(data.get("mcpServers"), list) else []
    if servers and not allow_stdio_mcp:
        if sys.stdin.isatty() and sys.stderr.isatty():
            console.print("store.json has stdio MCP servers, which run these commands on this machine when an "
                          "agent uses them:\n" + "\n".join(f"  {s}" for s in servers), markup=False, highlight=False)
            allow_stdio_mcp = typer.confirm("import them?", default=False, err=True)
        if not allow_stdio_mcp:
            console.print(stdio_refusal(servers), markup=False, highlight=False)
            raise typer.Exit(1)
    _writing_to(cfg)

    async def run() -> ImportCounts:
        async with open_context(cfg, start_runtime=False) as ctx:
            return await import_store(ctx.store, data, console=console, source=path.parent,
                                      allow_stdio=allow_stdio_mcp)

    try:
        counts = asyncio.run(run())
    except (MagecError, OSError) as e:
        console.print(f"[red]import failed:[/red] {e}")
        raise typer.Exit(1) from None
    console.print("imported: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if counts.report.skipped:
        console.print(f"[red]{len(counts.report.skipped)} item(s) not imported[/red] (NOT IMPORTED above)")
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    app()


# -- magec examples (flows) ------------------------------------------------------------------------
examples_app = _Typer(help="Example flows", no_args_is_help=True)


@examples_app.command("load")
def examples_load(
    backend: Annotated[
        list[str], typer.Option("--backend", "-b", help="backend id or name (repeat to spread agents)")
    ],
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="model per --backend (one = for all)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Create the "Research pipeline", "Debate" and "Support triage" example flows (and their agents) on your backends."""
    from magec.heap import collection_paused

    with collection_paused():  # ~1 s of imports (magec.heap)
        from magec.flows.examples import BackendPick, load_examples
        from magec.server import open_context

    cfg = _config(config)
    models = model or []
    if len(models) > 1 and len(models) != len(backend):
        console.print("[red]error:[/red] give one --model for all backends or one per --backend")
        raise typer.Exit(2)
    picks = [
        BackendPick(b, models[i] if len(models) > 1 else (models[0] if models else ""))
        for i, b in enumerate(backend)
    ]
    _writing_to(cfg)

    async def run() -> tuple[dict[str, str], list[str]]:
        async with open_context(cfg, start_runtime=False) as ctx:
            result = await load_examples(ctx.store, picks)
            return result.created, result.skipped

    try:
        created, skipped = asyncio.run(run())
    except MagecError as e:
        console.print(f"[red]examples not loaded:[/red] {e}")
        raise typer.Exit(1) from None
    for name, fid in created.items():
        console.print(f"created flow [bold]{name}[/bold] ({fid})")
    for name in skipped:
        console.print(f"flow [bold]{name}[/bold] already exists; skipped")


app.add_typer(examples_app, name="examples")
# magec backup / magec restore: clients of the running server's Admin API (magec.backup.cli)
register_backup(app, _config, console)


memory_app = _Typer(help="Long-term memory maintenance.", no_args_is_help=True)


@memory_app.command("reembed")
def memory_reembed(
    provider: Annotated[
        str | None, typer.Option("--provider", "-p", help="memory provider id (default: the active one)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Re-embed every memory with the provider's current embedding model (resumes an interrupted job;
    one a running server already runs is left to it)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from magec.heap import collection_paused

    with collection_paused():  # ~1 s of imports (magec.heap)
        from magec.server import open_context

    cfg = _config(config)
    _writing_to(cfg)

    async def run() -> dict[str, object]:
        async with open_context(cfg) as ctx:
            assert ctx.runtime is not None
            svc = ctx.runtime.memory
            pid = provider or ctx.runtime.current().snapshot.settings.long_term_provider
            if svc is None or not pid or svc.store(pid) is None:
                raise MagecError("no active long-term memory provider (select one in Settings, or pass --provider)")
            with Progress(TextColumn("[bold]re-embedding[/bold] {task.description}"), BarColumn(),
                          MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
                task = bar.add_task("", total=None)

                def progress(info: object) -> None:
                    bar.update(task, total=getattr(info, "total", None), completed=getattr(info, "done", 0),
                               description=f"→ {getattr(info, 'to_model', '')}")

                started = await svc.reembed(pid, on_progress=progress)
                info = await svc.wait(pid)
            if info is None:  # another magec process holds the job's lease and runs it
                return {**started.to_json(), "elsewhere": True, "provider": pid}
            return info.to_json()

    try:
        result = asyncio.run(run())
    except MagecError as e:
        error(e)
        raise typer.Exit(1) from None
    line = f"re-embed job {result.get('id')}: {result.get('status')} ({result.get('done')}/{result.get('total')})"
    if result.get("elsewhere"):
        line += (" in another magec process, which holds the job and runs it; follow it in the Admin UI or with "
                 f"GET /api/v1/admin/memory/{result.get('provider')}/reembed")
    console.print(line, highlight=False)


app.add_typer(memory_app, name="memory")
