"""What an operator's terminal and scripts get from the command line at ``COLUMNS=80``: a
``backup`` / ``restore`` failure is one line (as ``magec.cli.error`` prints ``error:`` lines),
whatever its length and whatever brackets its path or message hold (rich read ``[/red]`` in a path
as markup and crashed with a traceback), and command help is reflowed to the width instead of
keeping the docstring's hard line breaks."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def magec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "magec", *args], capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "80", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_restore_and_backup_failures_are_one_line_each(tmp_path: Path) -> None:
    archive = tmp_path / "nightly [/red] copy [bold]" / ("a-rather-long-archive-name-" * 3 + ".tar.gz")
    r = magec("restore", str(archive))
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [f"restore failed: {archive} is not a file"]

    url = f"http://127.0.0.1:{closed_port()}/" + "a-long-admin-prefix/" * 4
    r = magec("backup", "--url", url, "--password", "pw", "--out", str(tmp_path / "b.tar.gz"))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"backup failed: cannot reach the Admin API at {url} ("), lines
    assert lines[0].endswith("is `magec serve` running (with this config)?")


def test_command_help_is_reflowed_to_the_terminal(tmp_path: Path) -> None:  # noqa: ARG001
    r = magec("import-magec", "--help")
    assert r.returncode == 0, r.stderr
    prose = r.stdout.split("Usage:", 1)[1].split("╭", 1)[0].splitlines()[1:]
    paragraphs = " ".join(line.strip() or "\n" for line in prose).split("\n")
    # the docstring's second paragraph, whole, with the words its source broke after
    assert any("its client tokens keep working. Stdio MCP servers are listed" in " ".join(p.split())
               for p in paragraphs)
    # every line of a paragraph but its last fills the width: no line cut where the source was
    body = [line.rstrip() for line in prose]
    for line, following in zip(body, body[1:], strict=False):
        if line and following:
            assert len(line) > 60, f"a line broken early: {line!r}"
