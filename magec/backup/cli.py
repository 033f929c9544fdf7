"""``magec backup`` and ``magec restore``: clients of the running server's Admin API.

They talk HTTP to ``GET /api/v1/admin/settings/backup`` and ``POST /api/v1/admin/settings/restore``
rather than to the database: a restore must go through the server that holds the live runtime
(it catches up before answering — on SQLite no other process would notice the change), and the
same validation, atomicity and auth apply as for the Admin UI. The address and password come from
the same ``config.yaml`` / ``MAGEC_*`` variables as ``magec serve`` (``--url`` and
``--password`` override them), so the commands work while the server runs — and only then.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from magec.config import Config, is_loopback_host

PREFIX = "/api/v1/admin/settings"
CHUNK = 256 * 1024
ConfigLoader = Callable[[str | None], Config]
# module level: typer reads the annotations by name (``from __future__ import annotations``)
ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="config.yaml (or $MAGEC_CONFIG)")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="admin app URL (default: from the config)")]
PasswordOpt = Annotated[str | None, typer.Option("--password", help="admin password (default: server.adminPassword)")]


def admin_url(cfg: Config) -> str:
    """Where this machine reaches the admin app of ``cfg`` (a wildcard bind is reached on loopback)."""
    host = cfg.admin_host or (cfg.host if cfg.admin_password else "127.0.0.1")
    if host in ("", "0.0.0.0", "::", "[::]") or is_loopback_host(host):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{cfg.admin_port}"


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _error(r: httpx.Response, password_from: str = "") -> str:
    """What went wrong, for the person at the terminal. A ``401`` is said in the command's terms
    (the server's own words, "send Authorization: Bearer <password>", are an HTTP client's):
    ``password_from`` names where the password sent came from, "" when none was sent."""
    if r.status_code == 401:
        if not password_from:
            return ("the server asks for its admin password and none was given: pass --password, or "
                    "--config with the server's config.yaml (server.adminPassword; a ${VAR} in it must be set "
                    "in this shell too, e.g. MAGEC_ADMIN_PASSWORD)")
        return f"the server refused the admin password from {password_from}: it is not the server's admin password"
    try:
        body = r.json()
        return str(body.get("error") or body)
    except ValueError:
        return f"HTTP {r.status_code}: {r.text[:200]}"


def failed(console: Console, prefix: str, text: str) -> None:
    """One error line, as ``magec.cli.error`` prints it: never wrapped (rich wraps at 80 columns
    off a terminal), the text not read as rich markup (a path or a server's message holding
    ``[/x]`` crashed the print) nor highlighted."""
    console.print(f"[red]{escape(prefix)}[/red] {escape(text)}", soft_wrap=True, highlight=False)


def password_source(cfg: Config, password: str | None) -> str:
    """Where the admin password a command sends comes from ("" when it sends none)."""
    if password is not None:
        return "--password" if password else ""
    if not cfg.admin_password:
        return ""
    return "MAGEC_ADMIN_PASSWORD" if os.environ.get("MAGEC_ADMIN_PASSWORD") else "server.adminPassword"


def _changes_table(answer: dict[str, Any]) -> Table:
    table = Table(title="dry run: what a restore would change" if answer.get("status") == "dryRun" else "restored")
    for col in ("kind", "created", "updated", "deleted", "unchanged"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for kind, c in sorted(answer.get("changes", {}).items()):
        table.add_row(kind, *(str(len(c[k])) for k in ("created", "updated", "deleted")), str(c["unchanged"]))
    return table


def register(app: typer.Typer, load: ConfigLoader, console: Console) -> None:
    """Add ``backup`` and ``restore`` to the ``magec`` command line."""
    def client(cfg: Config, url: str | None, password: str | None) -> httpx.Client:
        secret = password if password is not None else cfg.admin_password
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=url or admin_url(cfg), headers=headers, timeout=httpx.Timeout(30, read=600))

    @app.command()
    def backup(
        out: Annotated[Path | None, typer.Option("--out", "-o", help="archive path (default: the server's file name)")] = None,
        include: Annotated[
            str, typer.Option("--include", help="optional sections, comma-separated: sessions,memories,artifacts,audit,runs,usage")
        ] = "",
        config: ConfigOpt = None,
        url: UrlOpt = None,
        password: PasswordOpt = None,
    ) -> None:
        """Download a backup of the running server (every resource, settings, encrypted secrets)."""
        cfg = load(config)
        try:
            with client(cfg, url, password) as http, http.stream(
                "GET", f"{PREFIX}/backup", params={"include": include} if include else None
            ) as r:
                if r.status_code != 200:
                    r.read()
                    failed(console, "backup failed:", _error(r, password_source(cfg, password)))
                    raise typer.Exit(1)
                m = re.search(r'filename="?([^";]+)"?', r.headers.get("content-disposition", ""))
                path = out or Path(m.group(1) if m else "magec-backup.tar.gz")
                total = int(r.headers.get("content-length") or 0) or None
                # the archive holds encrypted secrets and maybe conversations: owner-only
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh, _bar(console) as bar:
                    task = bar.add_task("downloading", total=total)
                    for chunk in r.iter_bytes(CHUNK):
                        fh.write(chunk)
                        bar.advance(task, len(chunk))
        except httpx.HTTPError as e:
            failed(console, "backup failed:", f"cannot reach the Admin API at {url or admin_url(cfg)} ({e}); "
                   "is `magec serve` running (with this config)?")
            raise typer.Exit(1) from None
        console.print(f"backup written to [bold]{path}[/bold] ({path.stat().st_size} bytes)")

    @app.command()
    def restore(
        archive: Annotated[Path, typer.Argument(help="a backup .tar.gz (magec's, or Magec's own)")],
        dry_run: Annotated[bool, typer.Option("--dry-run", help="only show what would change")] = False,
        config: ConfigOpt = None,
        url: UrlOpt = None,
        password: PasswordOpt = None,
    ) -> None:
        """Restore a backup into the running server: all or nothing, live (no restart)."""
        cfg = load(config)
        if not archive.is_file():
            failed(console, "restore failed:", f"{archive} is not a file")
            raise typer.Exit(2)
        size = archive.stat().st_size
        with _bar(console) as bar:
            task = bar.add_task("uploading", total=size)

            def body() -> Iterator[bytes]:
                with archive.open("rb") as fh:
                    while chunk := fh.read(CHUNK):
                        bar.advance(task, len(chunk))
                        yield chunk

            try:
                with client(cfg, url, password) as http:
                    r = http.post(
                        f"{PREFIX}/restore",
                        params={"dryRun": "true"} if dry_run else None,
                        content=body(),
                        headers={"Content-Type": "application/gzip", "Content-Length": str(size)},
                    )
            except httpx.HTTPError as e:
                failed(console, "restore failed:", f"cannot reach the Admin API at {url or admin_url(cfg)} ({e}); "
                       "is `magec serve` running (with this config)?")
                raise typer.Exit(1) from None
        if r.status_code != 200:
            failed(console, f"restore failed ({r.status_code}), nothing was changed:",
                   _error(r, password_source(cfg, password)))
            raise typer.Exit(1)
        answer = r.json()
        console.print(_changes_table(answer))
        console.print(f"settings: {answer.get('settings')}")
        for name, tables in answer.get("sections", {}).items():
            console.print(f"{name}: " + ", ".join(f"{n} {t}" for t, n in tables.items()))
        for warning in answer.get("warnings", []):
            console.print(f"[yellow]warning:[/yellow] {escape(str(warning))}", soft_wrap=True, highlight=False)
        if answer.get("status") == "restored":
            console.print(f"[green]restored[/green] (config epoch {answer.get('epoch')})")
