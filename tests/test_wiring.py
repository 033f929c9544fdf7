"""The composition root (magec.server) wires every part explicitly.

No first-party module is loaded by a name in a string (only the ``local`` extra's third-party
packages are, in ``backends/local/_deps.py``), and the apps built by ``server.user_app`` /
``server.admin_app`` carry every part's routes, so a missing router fails here, not silently.
A process that uses no MCP server, A2A app, flow or bot loads none of their code.
"""

from __future__ import annotations

import re
from pathlib import Path

import magec
from magec.testing.apps import running_apps

ROOT = Path(magec.__file__).parent
BY_NAME = re.compile(r"\bimport_module\(|\bimport_optional\(|__import__\(")


def test_no_module_is_loaded_by_name_outside_the_local_extra() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sorted(ROOT.rglob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if BY_NAME.search(line)
    ]
    assert all(f.startswith("backends/local/_deps.py:") for f in found), found


async def test_both_apps_carry_every_parts_routes(tmp_path: Path) -> None:
    from magec.server import admin_app, user_app

    async with running_apps(tmp_path / "data") as apps:
        user = set(user_app(apps.ctx).openapi()["paths"])
        admin = set(admin_app(apps.ctx).openapi()["paths"])
        assert apps.ctx.runtime is not None
        assert apps.ctx.runtime.memory is not None and apps.ctx.runtime.mcp is not None
    assert {"/api/v1/agent/run", "/v1/chat/completions", "/api/v1/voice/{agent_id}/speech"} <= user
    assert {
        "/api/v1/admin/backends/types",
        "/api/v1/admin/memory/types",
        "/api/v1/admin/voice/{agent_id}/speech",
        "/api/v1/admin/agent/run",
        "/api/v1/admin/clients/{id}/regenerate-token",
    } <= admin


#: what a process loads only once it uses it (a server with no MCP server, no A2A app, no flow and
#: no bot never imports them: ~1.3 s of every start-up on a slow host)
ON_FIRST_USE = ("mcp", "a2a", "celpy", "telegram", "slack_sdk", "discord", "magec.flows.compile")

_SERVE_AND_LIST = """
import asyncio, sys
from pathlib import Path
from magec.testing.apps import running_apps

async def main(data):
    async with running_apps(Path(data), start_clients=True) as apps:
        for client in (apps.user, apps.admin):
            assert (await client.get("/api/v1/health")).status_code == 200
        assert (await apps.user.get("/api/v1/a2a/.well-known/agent-card.json")).json() == []
    loaded = set(sys.modules) | {name.split(".")[0] for name in sys.modules}
    print(" ".join(sorted(loaded & set(sys.argv[2:]))))

asyncio.run(main(sys.argv[1]))
"""


def test_a_server_using_no_optional_part_never_loads_its_sdk(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _SERVE_AND_LIST, str(tmp_path / "data"), *ON_FIRST_USE],
                         capture_output=True, text=True, timeout=120, cwd=ROOT.parent)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == [], out.stdout
